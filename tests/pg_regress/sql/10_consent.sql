-- Consent: columns of a source mapped like identity attributes; per profile and purpose the most
-- recent statement is in force; segments leave out who lacks the consent they need, and a
-- withdrawal is an exit (reason consent).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
DROP TABLE IF EXISTS public.shop, public.app_users;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
CREATE TABLE public.shop (id int PRIMARY KEY, mail text, name text, newsletter text, sms_ok boolean,
                          profiling_ok int, changed timestamptz);
INSERT INTO public.shop VALUES
  (1, 'ayse.kaya@mail-one.com', 'Ayşe Kaya', 'Evet', true, NULL, '2026-01-10 10:00+00'),
  (2, 'can.demir@mail-one.com', 'Can Demir', 'yes', NULL, 1, '2026-01-10 10:00+00'),
  (3, 'elif.ak@mail-one.com', 'Elif Ak', 'HAYIR', false, 0, NULL),
  (4, 'mert.oz@mail-one.com', 'Mert Öz', 'maybe', NULL, 1, NULL),
  (5, 'zeynep.su@mail-one.com', 'Zeynep Su', NULL, NULL, NULL, NULL);
-- an app table with its own, later statements about the same person (Ayşe)
CREATE TABLE public.app_users (uid text PRIMARY KEY, email text, push text, news text, at text);
INSERT INTO public.app_users VALUES ('u1', 'AYSE.KAYA@mail-one.com', 'on', 'opted_out', '2026-02-01 08:30:00+03'),
                                    ('u2', 'can.demir@mail-one.com', 'off', NULL, 'next week');

-- mapping errors: consent columns without a person, a time without an answer, a wrong key
SELECT cdp.add_source('public.shop', 'id', '{"email_opt_in":"newsletter"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_source('public.shop', 'id', '{"email":"mail","consent_at":"changed"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_source('public.shop', 'id', '{"email":"mail","sms_optin":"sms_ok"}');
\echo :LAST_ERROR_SQLSTATE

SET client_min_messages = warning;
SELECT cdp.add_source('public.shop', 'id', '{"email":"mail","full_name":"name","email_opt_in":"newsletter",
  "sms_opt_in":"sms_ok","profiling_opt_in":"profiling_ok","consent_at":"changed"}', 'shop') > 0 AS registered;
SELECT cdp.add_source('public.app_users', 'uid', '{"email":"email","push_opt_in":"push","email_opt_in":"news",
  "consent_at":"at"}', 'app') > 0 AS registered;
SELECT cdp.sync_source('public.shop'), cdp.sync_source('public.app_users');
SELECT (cdp.resolve())->>'profiles' AS profiles;
RESET client_min_messages;

-- the statements, one per record and purpose stated; unreadable ones kept with their reason
SELECT s.source_table, r.source_key, k.purpose, k.granted, k.stated_by_source, k.reason,
       CASE WHEN k.stated_by_source THEN (k.stated_at AT TIME ZONE 'UTC')::text ELSE 'sync time' END AS stated_at_utc
  FROM cdp.consent_statements k JOIN cdp.records r USING (record_id) JOIN cdp.sources s USING (source_id)
 ORDER BY 1, 2, 3;
SELECT source_table, attribute, reason, records FROM cdp.quality_report WHERE attribute LIKE '%opt_in' OR attribute = 'consent_at' ORDER BY 1, 2;

-- in force per profile: Ayşe's app statement (later) wins for e-mail; her shop grant stays for SMS
SELECT c.name, c.email_opt_in, c.sms_opt_in, c.push_opt_in, c.profiling_opt_in
  FROM cdp.customer_360 c ORDER BY c.name;
SELECT p.name, k.purpose, k.granted, s.source_table
  FROM cdp.consent k JOIN cdp.customer_360 p USING (profile_id) JOIN cdp.sources s USING (source_id)
 WHERE p.name = 'Ayşe Kaya' ORDER BY 2;

-- segments: profiling refused (Elif) is out of every segment; requires_consent keeps to grants
SELECT cdp.define_segment('everyone', 'record_count >= 1') > 0 AS defined;
SELECT cdp.define_segment('sms list', 'record_count >= 1', requires_consent => 'sms') > 0 AS defined;
SELECT cdp.define_segment('mailing', 'email_opt_in', description => 'rules can read consent too') > 0 AS defined;
SELECT m.segment, p.name FROM cdp.segment_members m JOIN cdp.customer_360 p USING (profile_id) ORDER BY 1, 2;
SELECT cdp.define_segment('bad', 'true', requires_consent => 'profiling');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'true', requires_consent => 'fax');
\echo :LAST_ERROR_SQLSTATE

-- a withdrawal at the source: the next sync and evaluation make the member exit, reason consent.
-- (consent_at is the time of every statement of the row: the shop's e-mail grant is restated
-- with it and is now more recent than the app's refusal, so she enters 'mailing')
UPDATE public.shop SET sms_ok = false, changed = '2026-03-01 10:00+00' WHERE id = 1;
SET client_min_messages = warning;
SELECT cdp.sync_source('public.shop');
RESET client_min_messages;
SELECT (cdp._worker_segments(1000))->>'exits' AS exits;
SELECT e.segment, p.name, e.op, e.reason FROM cdp.segment_events e JOIN cdp.customer_360 p USING (profile_id)
 WHERE e.reason NOT IN ('defined') ORDER BY e.event_id;
-- an unchanged re-sync writes no statement
SET client_min_messages = warning;
SELECT cdp.sync_source('public.shop') AS records;
SELECT last_sync->>'consent_changed' AS consent_changed FROM cdp.sources WHERE source_table = 'public.shop'::regclass;
RESET client_min_messages;

-- the opt_in policy: who never granted profiling is left out too (Ayşe, Zeynep)
SELECT cdp.set_profiling_consent('opt_in')->'segments'->'everyone' AS everyone;
SELECT m.segment, p.name FROM cdp.segment_members m JOIN cdp.customer_360 p USING (profile_id)
 WHERE m.segment = 'everyone' ORDER BY 2;
SELECT cdp.set_profiling_consent('sometimes');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.set_profiling_consent('opt_out')->'segments'->'everyone' AS everyone;
-- a segment stops requiring consent ('none')
SELECT cdp.alter_segment('sms list', requires_consent => 'none')->>'enters' AS enters;

-- the analysts' view of the same: masked values, consent as it is
SELECT name, email, email_opt_in, profiling_opt_in FROM cdp.customer_360_masked ORDER BY profile_id;

-- a deleted source row takes its statements with it
DELETE FROM public.app_users WHERE uid = 'u1';
SET client_min_messages = warning;
SELECT cdp.sync_source('public.app_users');
RESET client_min_messages;
SELECT count(*) AS app_statements FROM cdp.consent_statements k JOIN cdp.records r USING (record_id)
 WHERE r.source_id = (SELECT source_id FROM cdp.sources WHERE source_table = 'public.app_users'::regclass);
SELECT count(*) AS orphans FROM cdp.consent_statements k WHERE NOT EXISTS (SELECT 1 FROM cdp.records r WHERE r.record_id = k.record_id);
-- an answer that can no longer be read keeps the one before it in force (Elif's refusal), and a
-- time in the future counts as now
UPDATE public.shop SET profiling_ok = 2 WHERE id = 3;
UPDATE public.shop SET changed = '2099-01-01 00:00+00' WHERE id = 2;
SET client_min_messages = warning;
SELECT cdp.sync_source('public.shop');
SELECT cdp.sync_source('public.shop') AS again;
RESET client_min_messages;
SELECT last_sync->>'consent_changed' AS changed_by_the_second_sync FROM cdp.sources WHERE source_table = 'public.shop'::regclass;
SELECT p.name, k.purpose, k.granted, k.stated_at <= now() AS not_in_the_future
  FROM cdp.consent k JOIN cdp.customer_360 p USING (profile_id) WHERE p.name IN ('Elif Ak', 'Can Demir') ORDER BY 1, 2;
SELECT r.source_key, k.purpose, k.granted, k.reason FROM cdp.consent_statements k JOIN cdp.records r USING (record_id)
 WHERE r.source_key = '3' AND k.purpose = 'profiling';

-- a mapping without consent columns states nothing any more: the source's statements go
SET client_min_messages = warning;
SELECT cdp.alter_source('public.app_users', mapping => '{"email":"email"}') IS NOT NULL AS altered;
RESET client_min_messages;
SELECT count(*) AS app_statements_after FROM cdp.consent_statements k JOIN cdp.records r USING (record_id)
 WHERE r.source_id = (SELECT source_id FROM cdp.sources WHERE source_table = 'public.app_users'::regclass);
SELECT count(*) AS shop_statements_kept FROM cdp.consent_statements;
