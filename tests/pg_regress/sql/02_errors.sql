-- Bad input: each error carries a fitting SQLSTATE, names the culprit, and hints at the fix.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
\set SHOW_CONTEXT never
CREATE TABLE public.t (id int PRIMARY KEY, nick text, mail text);
CREATE VIEW public.v AS SELECT * FROM public.t;

-- not a table: 42809
SELECT cdp.add_source('public.v', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
-- no such table: 42P01 (from the regclass cast)
SELECT cdp.add_source('public.nope', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
-- unknown column in the mapping: 42703
SELECT cdp.add_source('public.t', 'id', '{"email":"e_mail"}');
\echo :LAST_ERROR_SQLSTATE
-- unknown key column: 42703
SELECT cdp.add_source('public.t', 'key', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
-- unknown attribute: 22023, hint lists the known ones
SELECT cdp.add_source('public.t', 'id', '{"shoe_size":"nick"}');
\echo :LAST_ERROR_SQLSTATE
-- mapping that is not an object, or empty: 22023
SELECT cdp.add_source('public.t', 'id', '["mail"]');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_source('public.t', 'id', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_source('public.t', 'id', '{"email":42}');
\echo :LAST_ERROR_SQLSTATE
-- key column not unique: 42P10
SELECT cdp.add_source('public.t', 'nick', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
-- registered twice: 42710
SELECT cdp.add_source('public.t', 'id', '{"email":"mail"}') > 0 AS registered;
SELECT cdp.add_source('public.t', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
-- unknown source: 42704
CREATE TABLE public.unregistered (id int PRIMARY KEY);
SELECT cdp.sync_source('public.unregistered');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.drop_source('public.unregistered');
\echo :LAST_ERROR_SQLSTATE
-- unknown attribute in the normaliser: 22023
SELECT * FROM cdp.normalise('favourite_colour', 'blue');
\echo :LAST_ERROR_SQLSTATE
-- a setting under the reserved prefix that does not exist
SET cdp.no_such_setting = 1;
\echo :LAST_ERROR_SQLSTATE
SET cdp.date_order = 'YMD';
\echo :LAST_ERROR_SQLSTATE
-- survivorship: unknown rule or attribute
SELECT cdp.set_survivorship('email', 'newest');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.set_survivorship('shoe_size', 'most_recent');
\echo :LAST_ERROR_SQLSTATE
-- process_changes guards its argument
SELECT cdp.process_changes(0);
\echo :LAST_ERROR_SQLSTATE

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
RESET client_min_messages;
DROP VIEW public.v;
DROP TABLE public.t, public.unregistered;
