-- The role matrix: every pg_cdp role against every table, view and function of schema cdp.
-- What each role may do is declared once, below; every other pair must be refused. A new object
-- is refused to every role but cdp_admin until it is declared here, so none can be forgotten.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
DROP ROLE IF EXISTS regress_cdp_steward, regress_cdp_appuser;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;

CREATE TEMP TABLE declared (role name, object text, privilege text);
INSERT INTO declared VALUES
  -- analysts: masked profiles and the value tables
  ('cdp_analyst', 'cdp.profiles_masked', 'SELECT'), ('cdp_analyst', 'cdp.masking', 'SELECT'),
  ('cdp_analyst', 'cdp.rfm', 'SELECT'), ('cdp_analyst', 'cdp.clv', 'SELECT'),
  ('cdp_analyst', 'cdp.profile_traits', 'SELECT'), ('cdp_analyst', 'cdp.segments', 'SELECT'),
  ('cdp_analyst', 'cdp.segment_members', 'SELECT'), ('cdp_analyst', 'cdp.customer_360_masked', 'SELECT'),
  ('cdp_analyst', 'cdp.consent', 'SELECT'), ('cdp_analyst', 'cdp.profile_consent', 'SELECT'),
  ('cdp_analyst', 'cdp._mask_values(text[],text[],text)', 'EXECUTE'), ('cdp_analyst', 'cdp._mask_defaults()', 'EXECUTE'),
  -- stewards: the review queue, their decisions, masked profiles
  ('cdp_steward', 'cdp.review_queue(integer)', 'EXECUTE'), ('cdp_steward', 'cdp.force_link(bigint,bigint)', 'EXECUTE'),
  ('cdp_steward', 'cdp.cannot_link(bigint,bigint)', 'EXECUTE'), ('cdp_steward', 'cdp.force_split(bigint)', 'EXECUTE'),
  ('cdp_steward', 'cdp.profiles_masked', 'SELECT'), ('cdp_steward', 'cdp.masking', 'SELECT'),
  ('cdp_steward', 'cdp._mask_values(text[],text[],text)', 'EXECUTE'), ('cdp_steward', 'cdp._mask_defaults()', 'EXECUTE'),
  -- applications: segment events and memberships by profile id
  ('cdp_app', 'cdp.segment_events_since(bigint,integer)', 'EXECUTE'), ('cdp_app', 'cdp.ack_events(text,bigint)', 'EXECUTE'),
  ('cdp_app', 'cdp.segments', 'SELECT'), ('cdp_app', 'cdp.segment_members', 'SELECT'), ('cdp_app', 'cdp.consumer_lag', 'SELECT'),
  ('cdp_app', 'cdp.consent', 'SELECT'), ('cdp_app', 'cdp.profile_consent', 'SELECT'),
  -- the capture role: append to the queues; it owns the capture trigger functions
  ('cdp_capture', 'cdp.change_queue', 'INSERT'), ('cdp_capture', 'cdp.activity_queue', 'INSERT'),
  ('cdp_capture', 'cdp._capture_changes()', 'EXECUTE'), ('cdp_capture', 'cdp._capture_activity()', 'EXECUTE'),
  ('cdp_capture', 'cdp._changed_keys_sql(text,name,boolean)', 'EXECUTE'), ('cdp_capture', 'cdp._wake_worker()', 'EXECUTE');
-- cdp_admin: every table and view but the secrets, every function but the trigger functions and
-- the owner-only staging step
INSERT INTO declared
SELECT 'cdp_admin', c.oid::regclass::text, 'SELECT' FROM pg_class c
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v') AND c.relname NOT IN ('secrets', 'erasure_salt')
UNION ALL
SELECT 'cdp_admin', regexp_replace(p.oid::regprocedure::text, ', ', ',', 'g'), 'EXECUTE' FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace
   AND p.proname NOT IN ('_capture_changes', '_capture_activity', '_on_sql_drop', '_on_ddl_end', '_stage_as_owner');

-- the whole matrix: roles x (tables and views: SELECT, INSERT, UPDATE, DELETE; functions: EXECUTE)
CREATE TEMP TABLE matrix AS
WITH roles(role) AS (VALUES ('cdp_admin'::name), ('cdp_analyst'), ('cdp_steward'), ('cdp_app'), ('cdp_capture')),
objects AS (
    SELECT c.oid::regclass::text AS object, priv, has_table_privilege(r.role, c.oid, priv) AS granted, r.role
      FROM pg_class c, roles r, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) priv
     WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v')
    UNION ALL
    SELECT regexp_replace(p.oid::regprocedure::text, ', ', ',', 'g'), 'EXECUTE', has_function_privilege(r.role, p.oid, 'EXECUTE'), r.role
      FROM pg_proc p, roles r
     WHERE p.pronamespace = 'cdp'::regnamespace)
SELECT o.role, o.object, o.priv, o.granted,
       EXISTS (SELECT 1 FROM declared d WHERE d.role = o.role AND d.object = o.object AND d.privilege = o.priv) AS declared
  FROM objects o;
-- cdp_admin writes the value and configuration tables it fills itself (see the reference)
UPDATE matrix SET declared = true
 WHERE role = 'cdp_admin' AND priv IN ('INSERT', 'UPDATE', 'DELETE')
   AND object IN ('cdp.rfm', 'cdp.clv', 'cdp.clv_model', 'cdp.profile_traits', 'cdp.currency_rates', 'cdp.rfm_segment_map');

-- nothing granted that is not declared, nothing declared that is not granted
SELECT role, object, priv, granted, declared FROM matrix WHERE granted <> declared ORDER BY 1, 2, 3;
-- the matrix is the whole schema (not a few rows): how many pairs each role may use, of how many
SELECT role, count(*) FILTER (WHERE granted) AS granted, count(*) AS pairs FROM matrix GROUP BY role ORDER BY role;
-- every declared object exists (a typo in the list would declare nothing)
SELECT d.role, d.object FROM declared d
 WHERE NOT EXISTS (SELECT 1 FROM matrix m WHERE m.role = d.role AND m.object = d.object AND m.priv = d.privilege);

-- and in use: a steward works the queue, an application reads events, as login roles
CREATE ROLE regress_cdp_steward;
GRANT cdp_steward TO regress_cdp_steward;
CREATE ROLE regress_cdp_appuser;
GRANT cdp_app TO regress_cdp_appuser;
SET ROLE regress_cdp_steward;
SELECT count(*) AS queued FROM cdp.review_queue();
SELECT count(*) FROM cdp.records;
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.resolve();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_cdp_appuser;
SELECT count(*) AS events FROM cdp.segment_events_since(0);
SELECT count(*) FROM cdp.profiles_masked;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
DROP ROLE regress_cdp_steward, regress_cdp_appuser;
