-- pg_cdp: consent. A source maps consent columns like identity attributes (email_opt_in,
-- sms_opt_in, push_opt_in, profiling_opt_in, and consent_at, the time of the row's statements);
-- every sync turns them into statements in cdp.consent_statements (sql/sources.sql;
-- crates/cdp-core/src/consent.rs reads the values, SourcePlan::consent_sql writes them). Per profile and purpose the most recent statement is in
-- force (cdp.consent); segments leave out profiles without the consent they need, and a
-- withdrawal makes them exit (sql/segments.sql).

-- The statement in force per profile and purpose: the most recent readable one (at the same
-- time, a refusal before a grant).
CREATE VIEW cdp.consent AS
SELECT DISTINCT ON (r.profile_id, k.purpose)
       r.profile_id, k.purpose, k.granted, k.stated_at, k.stated_by_source, k.record_id, r.source_id
  FROM cdp.consent_statements k
  JOIN cdp.records r ON r.record_id OPERATOR(pg_catalog.=) k.record_id
 WHERE k.granted IS NOT NULL AND r.profile_id IS NOT NULL
 ORDER BY r.profile_id, k.purpose, k.stated_at DESC, k.granted, k.record_id DESC;
COMMENT ON VIEW cdp.consent IS 'Per profile and purpose (email, sms, push, profiling), the consent statement in force: the most recent one, with the record and source it came from.';

-- The same, one row per profile with a column per purpose (NULL: nothing stated): what
-- cdp.customer_360 and segment rules read.
CREATE VIEW cdp.profile_consent AS
SELECT c.profile_id,
       pg_catalog.bool_or(c.granted) FILTER (WHERE c.purpose OPERATOR(pg_catalog.=) 'email') AS email_opt_in,
       pg_catalog.bool_or(c.granted) FILTER (WHERE c.purpose OPERATOR(pg_catalog.=) 'sms') AS sms_opt_in,
       pg_catalog.bool_or(c.granted) FILTER (WHERE c.purpose OPERATOR(pg_catalog.=) 'push') AS push_opt_in,
       pg_catalog.bool_or(c.granted) FILTER (WHERE c.purpose OPERATOR(pg_catalog.=) 'profiling') AS profiling_opt_in
  FROM cdp.consent c
 GROUP BY c.profile_id;
COMMENT ON VIEW cdp.profile_consent IS 'The consent in force per profile, one column per purpose (NULL: no statement).';

-- How segments treat profiling consent: refused only (opt_out, the default: a profile is left
-- out once it refused profiling) or granted required (opt_in: left out until it granted it).
-- One row once cdp.set_profiling_consent was called (none: the default), so a restored dump
-- brings its row into an empty table.
CREATE TABLE cdp.consent_policy (
    one                      boolean PRIMARY KEY DEFAULT true CHECK (one),
    profiling_requires_grant boolean NOT NULL DEFAULT false
);
SELECT pg_catalog.pg_extension_config_dump('cdp.consent_policy', '');
COMMENT ON TABLE cdp.consent_policy IS 'Whether segments need a profile''s profiling consent granted (opt_in) or only not refused (opt_out, default); set with cdp.set_profiling_consent.';

-- A changed statement changes the profile's row in cdp.profile_facts and its segments: marked
-- for the worker (while segments exist), as cdp._mark_dirty marks changed profiles.
CREATE FUNCTION cdp._consent_dirty()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        RETURN NULL;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        WITH x AS (SELECT DISTINCT r.profile_id FROM dirty_old o JOIN cdp.records r ON r.record_id OPERATOR(pg_catalog.=) o.record_id
                    WHERE r.profile_id IS NOT NULL),
             f AS (INSERT INTO cdp.facts_dirty (profile_id) SELECT x.profile_id FROM x)
        INSERT INTO cdp.segment_dirty (profile_id) SELECT x.profile_id FROM x;
    ELSE
        WITH x AS (SELECT DISTINCT r.profile_id FROM dirty_new n JOIN cdp.records r ON r.record_id OPERATOR(pg_catalog.=) n.record_id
                    WHERE r.profile_id IS NOT NULL),
             f AS (INSERT INTO cdp.facts_dirty (profile_id) SELECT x.profile_id FROM x)
        INSERT INTO cdp.segment_dirty (profile_id) SELECT x.profile_id FROM x;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER consent_dirty_ins AFTER INSERT ON cdp.consent_statements REFERENCING NEW TABLE AS dirty_new
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_dirty();
CREATE TRIGGER consent_dirty_upd AFTER UPDATE ON cdp.consent_statements REFERENCING NEW TABLE AS dirty_new
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_dirty();
CREATE TRIGGER consent_dirty_del AFTER DELETE ON cdp.consent_statements REFERENCING OLD TABLE AS dirty_old
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_dirty();
