-- The audit log: one row per pg_cdp action that changes what pg_cdp does or holds, with the
-- login role and the role acting; append-only; no attribute value in it.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
DROP TABLE IF EXISTS public.crm;
DROP ROLE IF EXISTS regress_cdp_dba, regress_cdp_stew;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
CREATE ROLE regress_cdp_dba;
GRANT cdp_admin TO regress_cdp_dba;
CREATE ROLE regress_cdp_stew;
GRANT cdp_steward TO regress_cdp_stew;
CREATE TABLE public.crm (id int PRIMARY KEY, name text, mail text, gsm text);
ALTER TABLE public.crm OWNER TO regress_cdp_dba;
INSERT INTO public.crm VALUES (1, 'Ayşe Kaya', 'ayse.kaya@mail-two.com', '0532 123 45 67'),
                              (2, 'AYSE KAYA', 'ayse.kaya@mail-two.com', NULL),
                              (3, 'Bora Tan', 'bora.tan@mail-two.com', '0533 765 43 21');
SET ROLE regress_cdp_dba;
SET client_min_messages = warning;
SELECT cdp.add_source('public.crm', 'id', '{"full_name":"name","email":"mail","phone":"gsm"}', 'crm') > 0 AS registered;
SELECT cdp.alter_source('public.crm', priority => 5) IS NOT NULL AS altered;
SELECT cdp.sync_source('public.crm');
SELECT (cdp.resolve())->>'profiles' AS profiles;
SELECT cdp.define_trait('big_spend', 'sum(amount) FILTER (WHERE amount > 1000)');
SELECT cdp.define_segment('all', 'record_count >= 1') > 0 AS defined;
SELECT cdp.alter_segment('all', description => 'everyone')->>'segment' AS altered;
SELECT cdp.set_masking('email', 'hash');
SELECT cdp.set_survivorship('email', 'most_recent');
RESET ROLE;
SET ROLE regress_cdp_stew;
SELECT cdp.cannot_link(1, 3);
RESET ROLE;
SET ROLE regress_cdp_dba;
SELECT cdp.force_split(2) >= 0 AS split;
SELECT (cdp.forget_by('email', 'AYSE.KAYA@mail-two.com'))->>'profiles' AS forgotten;
SELECT cdp.unsuppress('email', 'ayse.kaya@mail-two.com');
SELECT cdp.drop_segment('all');
SELECT cdp.set_profiling_consent('opt_in') IS NOT NULL AS policy;
SELECT cdp.drop_source('public.crm');
RESET client_min_messages;
RESET ROLE;

-- who did what, in order; the erasure rows carry no profile id and no value
SELECT audit_id, session_role, acting_role, action, object,
       CASE WHEN action LIKE 'resolve.%' THEN '(run summary)' ELSE detail::text END AS detail
  FROM cdp.audit_log ORDER BY audit_id;
SELECT count(*) AS rows_with_a_value FROM cdp.audit_log
 WHERE detail::text ~* 'ayse|kaya|mail-two|0532|profile_id';

-- append-only: not even the owner changes or removes a row (only retention does)
UPDATE cdp.audit_log SET action = 'nothing' WHERE audit_id = 1;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM cdp.audit_log WHERE audit_id = 1;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE cdp.audit_log;
\echo :LAST_ERROR_SQLSTATE
-- and no role but the owner may write it at all
SET ROLE regress_cdp_dba;
SELECT count(*) > 0 AS admin_reads FROM cdp.audit_log;
INSERT INTO cdp.audit_log (session_role, acting_role, action) VALUES ('x', 'x', 'forged');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM cdp.audit_log;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_cdp_stew;
SELECT count(*) FROM cdp.audit_log;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- retention: rows older than cdp.audit_retention go, the others stay (0, the default, keeps all)
INSERT INTO cdp.audit_log (at, session_role, acting_role, action) VALUES (now() - interval '3 days', 'x', 'x', 'old');
SELECT cdp._prune_audit_log() AS pruned_keeping_all;
ALTER SYSTEM SET cdp.audit_retention = '1d';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW cdp.audit_retention;
SELECT cdp._prune_audit_log() AS pruned;
SELECT count(*) FILTER (WHERE action = 'old') AS old_left, count(*) > 10 AS recent_kept FROM cdp.audit_log;
DELETE FROM cdp.audit_log WHERE action = 'source.add';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM RESET cdp.audit_retention;
SELECT pg_reload_conf();
DROP ROLE regress_cdp_stew;
DROP TABLE public.crm;
SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
DROP OWNED BY regress_cdp_dba;
DROP ROLE regress_cdp_dba;
