-- Identity resolution as a user sees it: profiles with stable ids, golden records, explanations,
-- steward decisions and lineage.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
SET datestyle = 'ISO';
\set SHOW_CONTEXT never

CREATE TABLE public.web (id int PRIMARY KEY, mail text, name text, gsm text, born text);
INSERT INTO public.web VALUES
  (1, 'ayse.yilmaz@gmail.com', 'Ayşe Yılmaz', '0532 123 45 67', '1990-03-17'),
  (2, 'mehmet.kaya@hotmail.com', 'Mehmet Kaya', '0555 111 22 33', '1985-04-03'),
  (3, 'elif.aydin@gmail.com', 'Elif Aydın', NULL, '1992-06-15'),
  (4, 'test@test.com', 'Can Demir', '0000000000', NULL),
  (5, 'test@test.com', 'Zeynep Şahin', '0000000000', NULL);
CREATE TABLE public.store (no text PRIMARY KEY, fn text, ln text, gsm text, tckn text, born date);
INSERT INTO public.store VALUES
  ('S1', 'AYSE', 'YILMAZ', '0532 123 4567', NULL, '1990-03-17'),
  ('S2', 'Elif', 'Aydın', '0544 999 88 77', '28461937550', '1992-06-15'),
  ('S3', 'Elif', 'Aydın', NULL, '12345678950', '1992-06-15');
CREATE TABLE public.calls (id int PRIMARY KEY, caller text, mail text, gsm text);
INSERT INTO public.calls VALUES
  (1, 'Yılmaz, Ayse', 'ayse.yilmaz@gmail.com', NULL),
  (2, 'Mehmet Kaya', 'mehmet.kaya@hotmail.com', '0555 111 22 34');
SET client_min_messages = warning;
SELECT cdp.add_source('public.web', 'id', '{"email":"mail","full_name":"name","phone":"gsm","birth_date":"born"}', 'web', 10);
SELECT cdp.add_source('public.store', 'no', '{"first_name":"fn","last_name":"ln","phone":"gsm","national_id":"tckn","birth_date":"born"}', 'store', 20);
SELECT cdp.add_source('public.calls', 'id', '{"full_name":"caller","email":"mail","phone":"gsm"}', 'call_center', 5);
SELECT cdp.sync_source(source_table) FROM cdp.sources ORDER BY source_id;
RESET client_min_messages;

-- incremental resolution needs the model of a first full run
SELECT cdp.resolve_changes();
\echo :LAST_ERROR_SQLSTATE

-- the summary (timings left out: they vary)
SELECT key, value FROM jsonb_each(cdp.resolve() - 'phases' - 'seconds' - 'run_id') ORDER BY key;
-- the run leaves statistics on what it rewrote (the worker's next batch plans against them)
SELECT c.relname, c.reltuples > 0 AS analysed FROM pg_class c
 WHERE c.oid IN ('cdp.records'::regclass, 'cdp.match_edges'::regclass, 'cdp.profiles'::regclass, 'cdp.record_keys'::regclass)
 ORDER BY 1;

-- one profile per person; the two Elif Aydın with different national ids stay apart, and the
-- shared placeholder email/phone of web 4 and 5 (flagged at sync) joins nobody
SELECT m.channel, m.source_key, dense_rank() OVER (ORDER BY m.profile_id) AS person
  FROM cdp.profile_members m ORDER BY person, m.channel, m.source_key;

-- golden record: display values from the originals, provenance per attribute
SELECT p.record_count, p.source_count, p.display->>'full_name' AS name, p.email, p.phone, p.birth_date
  FROM cdp.profiles p ORDER BY p.record_count DESC, p.profile_id;

-- why web 2 and call centre 2 are one person: same email, phone one digit apart, same name
SELECT jsonb_pretty(cdp.explain_match(
  (SELECT record_id FROM cdp.profile_members WHERE channel = 'web' AND source_key = '2'),
  (SELECT record_id FROM cdp.profile_members WHERE channel = 'call_center' AND source_key = '2')) - 'model_id' - 'profile_a' - 'profile_b' - 'record_a' - 'record_b');
-- why the two Elif Aydın in the store are not: different national ids
SELECT x->>'decision' AS decision, x->'same_profile' AS same_profile, f->>'field' AS field, f->>'level' AS level, (f->>'weight')::numeric < 0 AS against
  FROM (SELECT cdp.explain_match(
          (SELECT record_id FROM cdp.profile_members WHERE source_key = 'S2'),
          (SELECT record_id FROM cdp.profile_members WHERE source_key = 'S3')) AS x) e,
       jsonb_array_elements(x->'fields') f ORDER BY field;

-- stable ids: a re-run changes nothing
CREATE TEMP TABLE before AS SELECT record_id, profile_id FROM cdp.records;
SELECT (cdp.resolve() - 'phases' - 'seconds' - 'run_id' - 'model_source' - 'model_id')
       @> '{"merges": 0, "splits": 0, "records_moved": 0, "profiles_written": 0}' AS nothing_changed;
SELECT count(*) AS ids_changed FROM cdp.records r JOIN before b USING (record_id) WHERE r.profile_id <> b.profile_id;

-- steward: S1 is not Ayşe after all → split; the largest part keeps the id
SELECT cdp.force_split((SELECT record_id FROM cdp.profile_members WHERE source_key = 'S1')) AS cannot_links;
SELECT (cdp.resolve())->'splits' AS splits;
SELECT kind, old_profile_id = (SELECT b.profile_id FROM before b JOIN cdp.profile_members m USING (record_id) WHERE m.source_key = 'S1') AS from_ayse, records, reason
  FROM cdp.profile_lineage ORDER BY lineage_id;
SELECT m.channel, m.source_key, m.profile_id = b.profile_id AS kept_id FROM cdp.profile_members m JOIN before b USING (record_id)
 WHERE m.channel IN ('web', 'store', 'call_center') AND m.source_key IN ('1', 'S1') ORDER BY m.channel, m.source_key;

-- steward: the two Elif Aydın are one person after all → merge; the oldest id survives
SELECT cdp.force_link((SELECT record_id FROM cdp.profile_members WHERE source_key = 'S2'),
                      (SELECT record_id FROM cdp.profile_members WHERE source_key = 'S3'));
SELECT (cdp.resolve())->'merges' AS merges;
SELECT count(DISTINCT profile_id) AS elif_profiles FROM cdp.profile_members WHERE source_key IN ('S2', 'S3');
SELECT kind, records, reason FROM cdp.profile_lineage ORDER BY lineage_id;

-- bad input: unknown record, self link, profile that was merged away
SELECT cdp.force_link(1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.force_link(1, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.explain_match(1, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.explain_profile((SELECT max(old_profile_id) FROM cdp.profile_lineage WHERE kind = 'merge'));
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.explain_profile(-1);
\echo :LAST_ERROR_SQLSTATE

-- incremental: a new call-centre row for Mehmet is matched through its blocking keys and joins
-- his profile; only that profile is re-clustered
INSERT INTO public.calls VALUES (3, 'MEHMET KAYA', 'mehmet.kaya@hotmail.com', NULL);
UPDATE public.calls SET gsm = '0555 111 22 33' WHERE id = 2;
SELECT cdp.process_changes() > 0 AS queued;
SELECT r.resolve_pending, r.profile_id IS NULL AS new FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.calls'::regclass AND r.source_key IN ('2', '3') ORDER BY r.source_key;
SELECT c->'pending' AS pending, c->'records' AS records, c->'new_profiles' AS new_profiles,
       c->'records_moved' AS moved, c->'more_pending' AS more
  FROM cdp.resolve_changes() c;
SELECT count(DISTINCT m.profile_id) AS profiles, count(*) AS records
  FROM cdp.profile_members m
 WHERE m.profile_id IN (SELECT profile_id FROM cdp.profile_members WHERE source_table = 'public.calls'::regclass AND source_key = '3');
SELECT cdp.resolve_changes(0);
\echo :LAST_ERROR_SQLSTATE

-- the model is stored and visible
SELECT model_id, source, records, converged FROM cdp.model ORDER BY model_id;

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
RESET client_min_messages;
DROP TABLE public.web, public.store, public.calls;
