-- Safe next to production data: each block is an attack or a breakage that worked before
-- pg_cdp was hardened, with the roles a company has (a table owner, an application, an
-- administrator of pg_cdp who is no superuser, another user). Roles are cluster-wide: they are
-- created here and dropped at the end.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
DROP SCHEMA IF EXISTS cdp CASCADE;
DROP ROLE IF EXISTS regress_cdp_owner, regress_cdp_app, regress_cdp_mallory, regress_cdp_other;
RESET client_min_messages;
CREATE ROLE regress_cdp_owner;
CREATE ROLE regress_cdp_app;
CREATE ROLE regress_cdp_mallory;
CREATE ROLE regress_cdp_other;
GRANT CREATE ON SCHEMA public TO regress_cdp_owner, regress_cdp_mallory, regress_cdp_other, regress_cdp_app;

-- ---------------------------------------------------------------------------------------------
-- Schema squatting: a schema cdp that someone else owns, others may create in, or that already
-- holds an object is refused (its owner could plant an overload that privileged code calls).
-- ---------------------------------------------------------------------------------------------
CREATE SCHEMA cdp AUTHORIZATION regress_cdp_mallory;
CREATE EXTENSION pg_cdp;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA cdp;
CREATE SCHEMA cdp;
CREATE FUNCTION cdp._check_records(bigint, bigint) RETURNS void LANGUAGE sql AS 'SELECT';
CREATE EXTENSION pg_cdp;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA cdp CASCADE;
CREATE SCHEMA cdp;
GRANT CREATE ON SCHEMA cdp TO regress_cdp_mallory;
CREATE EXTENSION pg_cdp;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA cdp;
SET client_min_messages = warning;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
GRANT cdp_admin TO regress_cdp_owner, regress_cdp_mallory, regress_cdp_other;

-- the capture role can do nothing but append to the queue
SELECT rolcanlogin, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = 'cdp_capture';
SELECT proowner::regrole AS capture_function_owner, prosecdef FROM pg_proc WHERE oid = 'cdp._capture_changes'::regproc;
SELECT c.relname, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'cdp'::regnamespace AND a.grantee = 'cdp_capture'::regrole ORDER BY 1, 2;

-- ---------------------------------------------------------------------------------------------
-- Least privilege: no function is EXECUTE-able and no table readable by PUBLIC; every function
-- runs with a fixed search_path; cdp_admin writes no trusted table directly.
-- ---------------------------------------------------------------------------------------------
SELECT count(*) AS public_functions FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace AND has_function_privilege('regress_cdp_app', p.oid, 'EXECUTE');
SELECT count(*) AS public_relations FROM pg_class c
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v', 'S')
   AND (has_table_privilege('regress_cdp_app', c.oid, 'SELECT') OR has_table_privilege('regress_cdp_app', c.oid, 'INSERT'));
-- (the one exception, the per-row normaliser, runs no SQL and has no owner's rights)
SELECT p.oid::regprocedure AS without_search_path, p.prosecdef FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%') ORDER BY 1;
SELECT c.relname AS admin_writable FROM pg_class c
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind = 'r' AND has_table_privilege('cdp_admin', c.oid, 'INSERT')
 ORDER BY 1;
SET ROLE regress_cdp_mallory;
INSERT INTO cdp.sources (source_table, key_column, mapping, registered_by, key_attnum, mapping_attnums)
VALUES ('pg_authid', 'oid', '{"email":"rolname"}', 'postgres', 1, '{"email":2}');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO cdp.change_queue (source_id, source_key) VALUES (1, '1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------------------------------
-- A table owner's code never runs with pg_cdp's rights. Every function below logs the role it
-- runs as: only the owner's (or the writer's) own role may ever appear, never postgres (the
-- superuser running the sync and the worker) nor cdp_capture.
-- ---------------------------------------------------------------------------------------------
SET ROLE regress_cdp_mallory;
CREATE TABLE public.spy_log (who name, what text);
GRANT INSERT ON public.spy_log TO PUBLIC;
CREATE FUNCTION public.spy(what text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO public.spy_log VALUES (current_user, what); RETURN true; END $$;
-- a key type with its owner's cast to text: refused as a key, and as a mapped column
CREATE TYPE public.badge AS (n integer);
CREATE FUNCTION public.badge_text(public.badge) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM public.spy('cast'); RETURN ($1).n::text; END $$;
CREATE CAST (public.badge AS text) WITH FUNCTION public.badge_text(public.badge);
CREATE TABLE public.m_badges (id public.badge PRIMARY KEY, nr integer UNIQUE, mail text, b public.badge);
INSERT INTO public.m_badges VALUES (ROW(1), 1, 'a@gmail.com', ROW(1));
SELECT cdp.add_source('public.m_badges', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_source('public.m_badges', 'nr', '{"email":"mail","external_id":"b"}');
\echo :LAST_ERROR_SQLSTATE
-- a domain key whose CHECK calls its owner's function: allowed (read as its base type), and the
-- CHECK runs only in the writer's own statements
CREATE DOMAIN public.checked_id AS integer CHECK (public.spy('domain'));
CREATE TABLE public.m_people (id public.checked_id PRIMARY KEY, mail text, name text);
-- an index predicate with the owner's immutable function: PostgreSQL simplifies it, calling the
-- function, whenever a query on the table is planned, so pg_cdp reads the table as its owner
-- (it also tries to leave settings behind for whoever reads the table: a search_path with its
-- own schema first, and a match threshold that would merge everyone)
CREATE FUNCTION public.spy_at_plan(what text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM public.spy(what);
         PERFORM set_config('search_path', 'public, pg_catalog', false), set_config('cdp.match_threshold', '1', false);
         RETURN true; END $$;
CREATE INDEX m_people_planned ON public.m_people (id) WHERE public.spy_at_plan('planner');
INSERT INTO public.m_people VALUES (1, 'ayse@gmail.com', 'Ayşe Yılmaz');
SELECT cdp.add_source('public.m_people', 'id', '{"email":"mail","full_name":"name"}') > 0 AS registered;
SELECT registered_by FROM cdp.sources WHERE source_table = 'public.m_people'::regclass;
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.m_people TO regress_cdp_app;
SET ROLE regress_cdp_app;
INSERT INTO public.m_people VALUES (2, 'mehmet@gmail.com', 'Mehmet Kaya');
UPDATE public.m_people SET mail = 'ayse.y@gmail.com' WHERE id = 1;
RESET ROLE;
-- (the application's own statements just ran the owner's code in this session: start clean)
RESET search_path;
RESET cdp.match_threshold;
SELECT cdp.process_changes();      -- as a superuser, as the worker runs it
SELECT cdp.sync_source('public.m_people');
SELECT source_key, email FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.m_people'::regclass ORDER BY 1;
SELECT DISTINCT who, what FROM public.spy_log ORDER BY 1, 2;
-- nothing the owner's code set outlives the read of the table
SELECT current_setting('search_path') AS search_path, current_setting('cdp.match_threshold') AS match_threshold;

-- ---------------------------------------------------------------------------------------------
-- A role registers only what it may read, and a sync reads only while the registering role may.
-- ---------------------------------------------------------------------------------------------
SET ROLE regress_cdp_owner;
CREATE TABLE public.o_secret (id bigint PRIMARY KEY, mail text, salary numeric);
INSERT INTO public.o_secret VALUES (1, 'boss@gmail.com', 1000000);
RESET ROLE;
SET ROLE regress_cdp_mallory;
SELECT cdp.add_source('public.o_secret', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- readable but no TRIGGER right: no capture can be installed
GRANT SELECT ON public.o_secret TO regress_cdp_other;
SET ROLE regress_cdp_other;
SELECT cdp.add_source('public.o_secret', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT TRIGGER ON public.o_secret TO regress_cdp_other;
SET ROLE regress_cdp_other;
SELECT cdp.add_source('public.o_secret', 'id', '{"email":"mail"}') > 0 AS registered;
SELECT cdp.sync_source('public.o_secret');
RESET ROLE;
-- the right is taken back: the next sync, by anyone, refuses
REVOKE SELECT ON public.o_secret FROM regress_cdp_other;
SELECT cdp.sync_source('public.o_secret');
\echo :LAST_ERROR_SQLSTATE
-- the worker's path keeps the change queued (with its SQLSTATE), never reads it
INSERT INTO public.o_secret VALUES (2, 'cfo@gmail.com', 900000);
SELECT cdp.process_changes();
SELECT source_key, attempts, last_sqlstate FROM cdp.change_queue q JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.o_secret'::regclass;
SELECT count(*) AS records_of_o_secret FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.o_secret'::regclass AND r.source_key = '2';
SELECT cdp.drop_source('public.o_secret');

-- row-level security that hides rows from the registering role: refused, never a partial sync
-- (which would delete the records of the rows it cannot see)
SET ROLE regress_cdp_owner;
CREATE TABLE public.o_rls (id integer PRIMARY KEY, mail text, region text);
INSERT INTO public.o_rls VALUES (1, 'north@gmail.com', 'north'), (2, 'south@gmail.com', 'south');
ALTER TABLE public.o_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY north_only ON public.o_rls USING (region = 'north');
GRANT SELECT, TRIGGER ON public.o_rls TO regress_cdp_other;
RESET ROLE;
SET ROLE regress_cdp_other;
SELECT cdp.add_source('public.o_rls', 'id', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_cdp_owner;
SELECT cdp.add_source('public.o_rls', 'id', '{"email":"mail"}') > 0 AS registered_by_owner;
ALTER TABLE public.o_rls FORCE ROW LEVEL SECURITY;
RESET ROLE;
SELECT cdp.sync_source('public.o_rls');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cdp_owner;
ALTER TABLE public.o_rls NO FORCE ROW LEVEL SECURITY;
RESET ROLE;
SELECT cdp.sync_source('public.o_rls');

-- ---------------------------------------------------------------------------------------------
-- Custom trait expressions are one expression of a checked subset: no stacked statement, no
-- subquery, no function outside the list.
-- ---------------------------------------------------------------------------------------------
SET ROLE regress_cdp_mallory;
SELECT cdp.define_trait('inject', 'sum(amount)) FROM cdp_tx GROUP BY 1; DROP TABLE m_people; --');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('peek', '(SELECT count(*) FROM pg_authid)');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('sleepy', 'sum(amount) + pg_sleep(1)');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('role', 'length(set_config(''role'', ''postgres'', true))');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('big_orders', 'count(*) FILTER (WHERE amount >= 1000)');
RESET ROLE;
SELECT trait, expression, defined_by FROM cdp.trait_definitions ORDER BY trait;
SELECT count(*) AS m_people_still_there FROM public.m_people;

-- ---------------------------------------------------------------------------------------------
-- Applications keep working: any role may drop its own objects with pg_cdp installed, and
-- renaming or dropping a source's columns never fails the application's writes.
-- ---------------------------------------------------------------------------------------------
SET ROLE regress_cdp_app;
CREATE TEMP TABLE scratch (x integer);
CREATE INDEX ON scratch (x);
DROP TABLE scratch;
CREATE TABLE public.app_own (x integer);
ALTER TABLE public.app_own ADD COLUMN y text;
ALTER TABLE public.app_own DROP COLUMN y;
DROP TABLE public.app_own;
RESET ROLE;

CREATE TABLE public.shop (code text UNIQUE, mail text, first text, secret text);
INSERT INTO public.shop VALUES ('A1', 'zeynep@gmail.com', 'Zeynep', 'pin 1234');
SELECT cdp.add_source('public.shop', 'code', '{"email":"mail","first_name":"first"}', 'store') > 0 AS registered;
SELECT cdp.sync_source('public.shop');
ALTER TABLE public.shop RENAME COLUMN code TO shop_code;
ALTER TABLE public.shop RENAME COLUMN mail TO email_address;
INSERT INTO public.shop VALUES ('A2', 'ali@gmail.com', 'Ali', 'pin 9999');
UPDATE public.shop SET email_address = 'zeynep.k@gmail.com' WHERE shop_code = 'A1';
SELECT cdp.process_changes();
SELECT key_column, mapping FROM cdp.sources WHERE source_table = 'public.shop'::regclass;
SELECT source_key, email, first_name FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.shop'::regclass ORDER BY 1;
-- a change of mapping, channel and priority in place: records and their ids stay
SELECT record_id AS a1_record FROM cdp.records WHERE source_key = 'A1' \gset
SELECT cdp.alter_source('public.shop', mapping => '{"email":"email_address","full_name":"first"}', channel => 'shop', priority => 5) - 'sync';
SELECT channel, priority, mapping FROM cdp.sources WHERE source_table = 'public.shop'::regclass;
SELECT record_id = :a1_record AS same_record, full_name, first_name FROM cdp.records WHERE source_key = 'A1';
-- a row without a key is quarantined with its mapped attributes only, and forgotten with the row
INSERT INTO public.shop VALUES (NULL, 'nokey@gmail.com', 'Nobody', 'pin 0000');
SELECT cdp.process_changes();
SELECT reason, source_key, attributes, detail FROM cdp.quarantine ORDER BY quarantine_id;
DELETE FROM public.shop WHERE shop_code IS NULL;
SELECT cdp.process_changes();
SELECT count(*) AS quarantined FROM cdp.quarantine;
-- the key column dropped: the application's write succeeds (with a warning), a full re-sync is
-- queued, and it waits (back-off, then quarantine) until the source is given a key again
ALTER TABLE public.shop ADD COLUMN new_code text UNIQUE;
UPDATE public.shop SET new_code = 'N' || shop_code;
SELECT cdp.process_changes();
ALTER TABLE public.shop DROP COLUMN shop_code;
INSERT INTO public.shop (email_address, first, new_code) VALUES ('can@gmail.com', 'Can', 'N3');
SELECT op, source_key FROM cdp.change_queue ORDER BY change_id;
SELECT cdp.process_changes();
SELECT op, attempts, last_sqlstate FROM cdp.change_queue ORDER BY change_id;
SELECT cdp.alter_source('public.shop', key_column => 'new_code') - 'sync';
SELECT source_key, email FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.shop'::regclass ORDER BY 1;
SELECT count(*) AS queued FROM cdp.change_queue;
-- the key column's type changed to one that is no key type: the write succeeds, a whole
-- re-sync is queued with a warning
CREATE TABLE public.typed (id integer PRIMARY KEY, mail text);
SELECT cdp.add_source('public.typed', 'id', '{"email":"mail"}') > 0 AS registered;
INSERT INTO public.typed VALUES (1, 'a@gmail.com'), (2, NULL);
SELECT op, source_key FROM cdp.change_queue ORDER BY change_id;
DELETE FROM cdp.change_queue;
ALTER TABLE public.typed ALTER COLUMN id TYPE numeric;
INSERT INTO public.typed VALUES (3.5, 'b@gmail.com');
SELECT op, source_key FROM cdp.change_queue ORDER BY change_id;
DELETE FROM cdp.change_queue;
SELECT cdp.drop_source('public.typed');
DROP TABLE public.typed;
-- a statement that changes many rows queues their keys as one row; every key is applied
CREATE TABLE public.bulk (id integer PRIMARY KEY, mail text);
SELECT cdp.add_source('public.bulk', 'id', '{"email":"mail"}') > 0 AS registered;
INSERT INTO public.bulk SELECT g, 'bulk' || g || '@gmail.com' FROM generate_series(1, 100) g;
SELECT op, source_key, pg_catalog.cardinality(source_keys) AS keys FROM cdp.change_queue ORDER BY change_id;
UPDATE public.bulk SET mail = 'changed' || id || '@gmail.com' WHERE id <= 40;
SELECT cdp.process_changes() AS applied;
SELECT count(*) AS records, count(*) FILTER (WHERE email LIKE 'changed%') AS changed
  FROM cdp.records r JOIN cdp.sources s USING (source_id) WHERE s.source_table = 'public.bulk'::regclass;
SELECT count(*) AS queued FROM cdp.change_queue;
SELECT cdp.drop_source('public.bulk');
DROP TABLE public.bulk;

-- ---------------------------------------------------------------------------------------------
-- Nothing is lost: a failing key is isolated and retried with back-off, then kept in quarantine
-- (SQLSTATE only) until cdp.retry_quarantine(); transient failures are retried, never kept.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.calls (id integer PRIMARY KEY, phone text);
SELECT cdp.add_source('public.calls', 'id', '{"phone":"phone"}') > 0 AS registered;
-- test-only sabotage: the record of one key cannot be written
CREATE FUNCTION public.refuse_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source_key = '13' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '22000'; END IF;
    IF NEW.source_key = '14' THEN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_key BEFORE INSERT ON cdp.records FOR EACH ROW EXECUTE FUNCTION public.refuse_key();
INSERT INTO public.calls SELECT g, '0532 100 00 ' || lpad(g::text, 2, '0') FROM generate_series(1, 20) g;
SELECT cdp.process_changes();
SELECT string_agg(source_key, ',' ORDER BY source_key::int) AS applied FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.calls'::regclass;
SELECT source_key, attempts, last_sqlstate, next_attempt_at > now() AS waits FROM cdp.change_queue ORDER BY source_key;
-- not yet due: nothing happens
SELECT cdp.process_changes();
UPDATE cdp.change_queue SET next_attempt_at = now();
SELECT cdp.process_changes();
UPDATE cdp.change_queue SET next_attempt_at = now();
SELECT cdp.process_changes();
SELECT source_key, attempts, last_sqlstate FROM cdp.change_queue ORDER BY source_key;
SELECT source_key, reason, sqlstate, attempts, detail FROM cdp.quarantine ORDER BY source_key;
DROP TRIGGER refuse_key ON cdp.records;
SELECT cdp.retry_quarantine('public.calls');
UPDATE cdp.change_queue SET next_attempt_at = now();
SELECT cdp.process_changes();
SELECT count(*) AS calls_records FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.calls'::regclass;
SELECT count(*) AS quarantined, (SELECT count(*) FROM cdp.change_queue) AS queued FROM cdp.quarantine;
-- quarantined rows are kept for cdp.quarantine_retention, then deleted by process_changes
SHOW cdp.quarantine_retention;
INSERT INTO cdp.quarantine (source_id, source_key, reason, detail, created_at)
SELECT source_id, k, 'apply_failed', 'applying the change failed with SQLSTATE 22000', now() - age
  FROM cdp.sources, (VALUES ('old', interval '31 days'), ('recent', interval '29 days')) v(k, age)
 WHERE source_table = 'public.calls'::regclass;
SELECT cdp.process_changes();
SELECT source_key FROM cdp.quarantine ORDER BY 1;
DELETE FROM cdp.quarantine;

-- ---------------------------------------------------------------------------------------------
-- Keys and dates read the same from every session; odd dates are flagged, never an error; a
-- key type whose text depends on settings, and a temporary table, are refused.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.visits (at timestamptz PRIMARY KEY, mail text);
SELECT cdp.add_source('public.visits', 'at', '{"email":"mail"}');
\echo :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE temp_people (id integer PRIMARY KEY, mail text);
DO $$ BEGIN   -- (the message names the session's temporary schema, which varies)
    PERFORM cdp.add_source('temp_people', 'id', '{"email":"mail"}');
EXCEPTION WHEN feature_not_supported THEN RAISE NOTICE 'temporary table refused: %', SQLSTATE;
END $$;
CREATE TABLE public.births (id uuid PRIMARY KEY, born date, mail text);
SELECT cdp.add_source('public.births', 'id', '{"birth_date":"born"}') > 0 AS registered;
SET DateStyle = 'German, DMY';
SET TimeZone = 'Pacific/Kiritimati';
INSERT INTO public.births VALUES
    ('00000000-0000-0000-0000-000000000001', '1990-03-17', 'a@gmail.com'),
    ('00000000-0000-0000-0000-000000000002', '0044-03-15 BC', 'b@gmail.com'),
    ('00000000-0000-0000-0000-000000000003', '20000-01-01', 'c@gmail.com'),
    ('00000000-0000-0000-0000-000000000004', 'infinity', 'd@gmail.com');
SELECT cdp.process_changes();
RESET DateStyle;
RESET TimeZone;
SELECT source_key, to_char(birth_date, 'YYYY-MM-DD') AS birth_date, quality, original->>'birth_date' AS original
  FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.births'::regclass ORDER BY 1;
-- a delete from a session with other settings finds its record
SET DateStyle = 'SQL, MDY';
DELETE FROM public.births WHERE born = 'infinity';
SELECT cdp.process_changes();
RESET DateStyle;
SELECT count(*) AS births_records FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.births'::regclass;

-- ---------------------------------------------------------------------------------------------
-- Capture gaps closed: rows written straight into a partition, a partition truncated, and
-- changes applied as logical replication applies them (session_replication_role = replica).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.regions (member_no text PRIMARY KEY, mail text) PARTITION BY RANGE (member_no);
CREATE TABLE public.regions_a PARTITION OF public.regions FOR VALUES FROM ('A') TO ('M');
CREATE TABLE public.regions_m PARTITION OF public.regions FOR VALUES FROM ('M') TO ('ZZZ');
SELECT cdp.add_source('public.regions', 'member_no', '{"email":"mail"}') > 0 AS registered;
SELECT tgrelid::regclass AS captured, count(*) FROM pg_trigger WHERE tgname LIKE 'cdp\_capture\_%'
   AND tgrelid::regclass::text LIKE 'regions%' GROUP BY 1 ORDER BY 1;
SELECT DISTINCT tgenabled FROM pg_trigger WHERE tgname LIKE 'cdp\_capture\_%';
INSERT INTO public.regions_a VALUES ('A1', 'straight@gmail.com');
INSERT INTO public.regions VALUES ('N1', 'routed@gmail.com');
SET session_replication_role = replica;
INSERT INTO public.regions VALUES ('B1', 'replicated@gmail.com');
RESET session_replication_role;
SELECT op, source_key FROM cdp.change_queue ORDER BY change_id;
SELECT cdp.process_changes();
TRUNCATE public.regions_m;
SELECT op, source_key FROM cdp.change_queue ORDER BY change_id;
SELECT cdp.process_changes();
SELECT source_key FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.regions'::regclass ORDER BY 1;

-- a partition created, attached or detached later: captured from then on, its rows re-synced
CREATE TABLE public.regions_z PARTITION OF public.regions FOR VALUES FROM ('ZZZ') TO ('ZZZZ');
CREATE TABLE public.regions_old (member_no text PRIMARY KEY, mail text);
INSERT INTO public.regions_old VALUES ('0A', 'old.member@gmail.com');
ALTER TABLE public.regions ATTACH PARTITION public.regions_old FOR VALUES FROM ('0') TO ('A');
ALTER TABLE public.regions DETACH PARTITION public.regions_a;
SELECT tgrelid::regclass AS captured, count(*) FROM pg_trigger WHERE tgname LIKE 'cdp\_capture\_%'
   AND tgrelid::regclass::text LIKE 'regions%' GROUP BY 1 ORDER BY 1;
SELECT op, source_key FROM cdp.change_queue ORDER BY change_id;
SELECT cdp.process_changes();
INSERT INTO public.regions_z VALUES ('ZZZA', 'late@gmail.com');
INSERT INTO public.regions_a VALUES ('A9', 'gone.with.the.partition@gmail.com');
SELECT cdp.process_changes();
SELECT source_key FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.regions'::regclass ORDER BY 1;

-- ---------------------------------------------------------------------------------------------
-- Dropping a registered table unregisters it; a dropped order table no longer breaks the value
-- functions.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.orders (order_id integer PRIMARY KEY, customer text, amount numeric, at timestamptz);
INSERT INTO public.orders VALUES (1, 'A1', 10, '2024-01-01');
SELECT cdp.add_transaction_source('public.orders', 'public.regions', 'customer', 'amount', 'at') > 0 AS registered;
SELECT registered_by FROM cdp.transaction_sources;
DROP TABLE public.orders;
SELECT count(*) AS transaction_sources FROM cdp.transaction_sources;
SELECT count(*) AS transactions FROM cdp.transactions();
CREATE TABLE public.orders2 (order_id integer PRIMARY KEY, customer text, amount numeric, at timestamptz);
SELECT cdp.add_transaction_source('public.orders2', 'public.regions', 'customer', 'amount', 'at') > 0 AS registered;
SELECT cdp.drop_transaction_source('public.orders2');
SELECT cdp.drop_transaction_source('public.orders2');
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------------------------
-- Steward decisions name source rows, not record ids: a row deleted and inserted again gets a
-- new record, and the decision follows it.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE public.people (id integer PRIMARY KEY, mail text, name text, phone text);
INSERT INTO public.people VALUES
    (1, 'ayse.yilmaz@gmail.com', 'Ayşe Yılmaz', '0532 111 2233'),
    (2, 'a.yilmaz.work@hotmail.com', 'Ayse Yilmaz-Kaya', '0212 444 5566'),
    (3, 'zeynep.demir@yandex.com', 'Zeynep Demir', '0534 777 8899');
SELECT cdp.add_source('public.people', 'id', '{"email":"mail","full_name":"name","phone":"phone"}') > 0 AS registered;
SELECT cdp.sync_source('public.people') AS records;
SELECT record_id AS p1 FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.people'::regclass AND r.source_key = '1' \gset
SELECT record_id AS p2 FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.people'::regclass AND r.source_key = '2' \gset
SELECT cdp.force_link(:p1, :p2);
SELECT key_a, key_b, kind, created_by FROM cdp.manual_links;
SELECT (cdp.resolve() ->> 'profiles') IS NOT NULL AS resolved;
SELECT count(DISTINCT profile_id) AS profiles_of_rows_1_and_2 FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.people'::regclass AND r.source_key IN ('1', '2');
DELETE FROM public.people WHERE id = 2;
SELECT cdp.process_changes();
INSERT INTO public.people VALUES (2, 'a.yilmaz.work@hotmail.com', 'Ayse Yilmaz-Kaya', '0212 444 5566');
SELECT cdp.process_changes();
SELECT record_id <> :p2 AS new_record FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.people'::regclass AND r.source_key = '2';
SELECT count(*) AS decisions_between_current_records FROM cdp.manual_link_records;
SELECT (cdp.resolve_changes() ->> 'pending') AS pending;
SELECT count(DISTINCT profile_id) AS profiles_of_rows_1_and_2 FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.people'::regclass AND r.source_key IN ('1', '2');

-- ---------------------------------------------------------------------------------------------
-- Clean up: the extension goes, the roles go (cdp_capture and cdp_admin stay for other databases).
-- ---------------------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
DROP SCHEMA IF EXISTS cdp CASCADE;
DROP TABLE public.m_badges, public.m_people, public.spy_log, public.o_secret, public.o_rls, public.shop,
           public.calls, public.visits, public.births, public.regions, public.regions_a, public.orders2, public.people;
DROP FUNCTION public.refuse_key();
DROP DOMAIN public.checked_id;
DROP CAST (public.badge AS text);
DROP FUNCTION public.badge_text(public.badge), public.spy_at_plan(text), public.spy(text);
DROP TYPE public.badge;
REVOKE CREATE ON SCHEMA public FROM regress_cdp_owner, regress_cdp_mallory, regress_cdp_other, regress_cdp_app;
DROP ROLE regress_cdp_owner, regress_cdp_app, regress_cdp_mallory, regress_cdp_other;
RESET client_min_messages;
