-- pg_cdp 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_cdp UPDATE TO '0.2.0')
--
-- Every schema change of a version is written twice: in the install script (sql/*.sql, the Rust
-- functions) for a fresh CREATE EXTENSION, and here for a database that already has the previous
-- version. The client test `an_upgraded_database_equals_a_fresh_install_and_keeps_its_data`
-- restores a database filled by 0.1.0 itself (tests/upgrade/filled-0.1.0.sql), updates it and
-- compares the catalog with a fresh install of this version, object by object, and the data with
-- what it was. CHANGELOG.md says what each version changed.
\echo Use "ALTER EXTENSION pg_cdp UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- The audit log (sql/audit.sql), first: the functions replaced below write to it.
-- ---------------------------------------------------------------------------------------------
-- pg_cdp: the audit log. Every pg_cdp function that changes what pg_cdp does or holds writes one
-- row here: who (the session's login role and the role acting), what, when. Source registration
-- and mapping changes, resolve runs started by a user, steward decisions, erasures, segment,
-- trait, consent, masking and survivorship definitions. Rows are appended by those functions
-- only (the worker's own steps are not logged here: cdp.resolve_runs and the server log hold
-- them); nobody updates or deletes them, and the worker deletes those older than
-- cdp.audit_retention. No attribute value (a name, an e-mail, an erased person's identifier) is
-- written here: objects are named by table, segment, trait or attribute, records by id.

CREATE TABLE cdp.audit_log (
    audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_role name NOT NULL,     -- session_user: the role that logged in
    acting_role  name NOT NULL,     -- the role the caller acted as (current_user before pg_cdp's functions ran as its owner)
    action       text NOT NULL,     -- e.g. source.add, resolve.full, steward.force_link, erasure.forget, segment.define
    object       text,              -- the table, segment, trait or attribute acted on
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON cdp.audit_log (at);
SELECT pg_catalog.pg_extension_config_dump('cdp.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.audit_log_audit_id_seq', '');
COMMENT ON TABLE cdp.audit_log IS 'Who did what to pg_cdp and when: source, resolve, steward, erasure, segment, trait, consent, masking and survivorship actions. Append-only; the worker deletes rows older than cdp.audit_retention.';

-- Append one row and return detail (so a wrapper can log and return a result in one
-- expression). Runs as pg_cdp's owner; the caller's roles are read here, not passed in.
CREATE FUNCTION cdp._audit(action text, object text, detail jsonb DEFAULT '{}'::jsonb)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO cdp.audit_log (session_role, acting_role, action, object, detail)
    VALUES (SESSION_USER, cdp._acting_role(), action, object, COALESCE(detail, '{}'::jsonb));
    SELECT detail;
$$;

-- A rule or expression in the log: its SHA-256 only (a rule may compare a column with a
-- literal value, an e-mail say, and the log keeps what it holds for good); the definition in
-- force is in cdp.segments or cdp.trait_definitions, and the same text gives the same digest.
CREATE FUNCTION cdp._text_digest(t text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(t, 'UTF8')), 'hex') $$;

-- Nobody changes a row, and only rows older than cdp.audit_retention (when it is not 0) can be
-- deleted (by the worker; only pg_cdp's owner has the privilege at all). TRUNCATE is refused.
CREATE FUNCTION cdp._audit_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep interval := pg_catalog.current_setting('cdp.audit_retention')::interval;
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND keep OPERATOR(pg_catalog.>) interval '0'
       AND OLD.at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'cdp.audit_log is append-only' USING ERRCODE = '42501',
          HINT = 'rows older than cdp.audit_retention are deleted by the worker; nothing else changes or removes them';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON cdp.audit_log
    FOR EACH ROW EXECUTE FUNCTION cdp._audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON cdp.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._audit_append_only();

-- The worker's retention step: rows older than cdp.audit_retention go. Returns how many.
CREATE FUNCTION cdp._prune_audit_log()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep interval := pg_catalog.current_setting('cdp.audit_retention')::interval;
    n    bigint := 0;
BEGIN
    IF keep OPERATOR(pg_catalog.>) interval '0' THEN
        DELETE FROM cdp.audit_log a WHERE a.at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep);
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Consent: statements read from the consent columns of sources, the statement in force per
-- profile, the profiling policy; segments can require a channel's consent.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp._consent_statements("raw" text[]) RETURNS TABLE ("purpose" text, "granted" bool, "stated_at" text, "reason" text)
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_consent_statements_wrapper';
CREATE FUNCTION cdp._check_consent_purpose("purpose" text) RETURNS void
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_check_consent_purpose_wrapper';
CREATE FUNCTION cdp._consent_blocked_sql("profiling_requires_grant" bool, "requires" text, "qualifier" text) RETURNS text
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_consent_blocked_sql_wrapper';
CREATE TABLE cdp.consent_statements (
    record_id        bigint NOT NULL,      -- no FK (as cdp.records.source_id): removed with their record by cdp._records_deleted
    purpose          text NOT NULL CHECK (purpose IN ('email', 'sms', 'push', 'profiling')),
    granted          boolean,              -- NULL: the value could not be read (reason says why)
    stated_at        timestamptz NOT NULL,
    stated_by_source boolean NOT NULL,     -- the time is the source's consent_at (false: the sync saw the answer change then)
    reason           text,                 -- invalid_consent, invalid_consent_time
    PRIMARY KEY (record_id, purpose)
);
SELECT pg_catalog.pg_extension_config_dump('cdp.consent_statements', '');
COMMENT ON TABLE cdp.consent_statements IS 'Consent statements read from the consent columns of sources: per record and purpose, granted or not, and when; an unreadable value is kept with its reason.';

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

CREATE OR REPLACE FUNCTION cdp._records_deleted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- every deleted record, profile or not: a run in progress may be giving it one
    INSERT INTO cdp.resolve_gone (profile_id, record_id)
    SELECT g.profile_id, g.record_id FROM gone g;
    -- their consent statements go with them (sql/consent.sql)
    IF EXISTS (SELECT 1 FROM cdp.consent_statements) THEN
        DELETE FROM cdp.consent_statements k USING gone g WHERE k.record_id OPERATOR(pg_catalog.=) g.record_id;
    END IF;
    RETURN NULL;
END
$$;

-- the analysts' view shows the consent in force
CREATE OR REPLACE VIEW cdp.customer_360 AS
SELECT p.profile_id,
       p.display OPERATOR(pg_catalog.->>) 'full_name' AS name,
       p.email, p.phone, p.birth_date, p.city, p.country,
       p.record_count, p.source_count,
       r.recency_days, r.frequency, r.monetary_total, r.r_score, r.f_score, r.m_score, r.rfm_cell, r.segment,
       c.orders, c.historical_value, c.p_alive, c.expected_purchases, c.predicted_clv,
       (SELECT pg_catalog.jsonb_object_agg(t.trait, COALESCE(pg_catalog.to_jsonb(t.value), pg_catalog.to_jsonb(t.text_value)))
          FROM cdp.profile_traits t WHERE t.profile_id OPERATOR(pg_catalog.=) p.profile_id) AS traits,
       p.created_at, p.updated_at,
       k.email_opt_in, k.sms_opt_in, k.push_opt_in, k.profiling_opt_in
  FROM cdp.profiles p
  LEFT JOIN cdp.rfm r ON r.profile_id OPERATOR(pg_catalog.=) p.profile_id
  LEFT JOIN cdp.clv c ON c.profile_id OPERATOR(pg_catalog.=) p.profile_id
  LEFT JOIN cdp.profile_consent k ON k.profile_id OPERATOR(pg_catalog.=) p.profile_id;
COMMENT ON VIEW cdp.customer_360 IS 'Profile, golden record, RFM, lifetime value, traits and consent in force in one row per person.';
COMMENT ON VIEW cdp.customer_360 IS 'Profile, golden record, RFM, lifetime value, traits and consent in force in one row per person.';

ALTER TABLE cdp.segments ADD COLUMN requires_consent text CHECK (requires_consent IN ('email', 'sms', 'push'));
DROP FUNCTION cdp.define_segment(text, text, text, numeric);
DROP FUNCTION cdp.alter_segment(text, text, text, numeric);
-- The rule a segment's members are found by: its own, and the consent they need (a profile that
-- refused profiling, or did not grant it under the opt_in policy, and for a segment that
-- requires a channel one that has not granted it, is left out). cdp._consent_blocked_sql
-- (crates/cdp-core/src/consent.rs) writes the condition, with the qualifier the caller needs.
CREATE FUNCTION cdp._consent_blocked(seg cdp.segments, qualifier text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._consent_blocked_sql(COALESCE((SELECT p.profiling_requires_grant FROM cdp.consent_policy p), false),
                                      seg.requires_consent, qualifier) $$;

CREATE FUNCTION cdp._member_rule(seg cdp.segments)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format('(%s) AND NOT %s', seg.rule, cdp._consent_blocked(seg, '')) $$;

CREATE FUNCTION cdp.alter_segment(name text, rule text DEFAULT NULL, description text DEFAULT NULL, holdout_percent numeric DEFAULT NULL,
                                  requires_consent text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s        cdp.segments := cdp._segment_named(name);
    r        record;
    first_id bigint;
    n        bigint;
BEGIN
    IF rule IS NOT NULL THEN
        PERFORM cdp._check_segment_rule(rule);
    END IF;
    IF holdout_percent IS NOT NULL AND (holdout_percent OPERATOR(pg_catalog.<) 0 OR holdout_percent OPERATOR(pg_catalog.>) 100) THEN
        RAISE EXCEPTION 'holdout_percent must be between 0 and 100, not %', holdout_percent USING ERRCODE = '22023';
    END IF;
    IF requires_consent IS DISTINCT FROM 'none' THEN
        PERFORM cdp._check_consent_purpose(requires_consent);
    END IF;
    PERFORM cdp._lock_events();
    UPDATE cdp.segments x
       SET rule = COALESCE(rule, x.rule), description = COALESCE(description, x.description),
           holdout_percent = COALESCE(holdout_percent, x.holdout_percent), updated_at = pg_catalog.now(),
           requires_consent = CASE WHEN requires_consent IS NULL THEN x.requires_consent
                                   WHEN requires_consent OPERATOR(pg_catalog.=) 'none' THEN NULL ELSE requires_consent END,
           reads_clock = cdp._segment_reads_clock(COALESCE(rule, x.rule)),
           refreshed_at = cdp._clock(), defined_by = cdp._acting_role()
     WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id
    RETURNING * INTO s;
    -- members stay on their side unless the share itself changed; a member who changes side
    -- leaves on the old one and enters on the new one (reason holdout), so consumers stop or
    -- start contacting exactly those
    IF holdout_percent IS NOT NULL THEN
        first_id := pg_catalog.nextval('cdp.segment_event_id_seq');
        WITH flip AS (
            UPDATE cdp.segment_members m SET holdout = NOT m.holdout
             WHERE m.segment OPERATOR(pg_catalog.=) s.name
               AND m.holdout OPERATOR(pg_catalog.<>) cdp._holdout(s.name, m.profile_id, s.holdout_percent)
            RETURNING m.profile_id, m.holdout AS now_held)
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, holdout)
        SELECT first_id OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY f.profile_id, e.op DESC) OPERATOR(pg_catalog.-) 1,
               s.name, f.profile_id, e.op, 'holdout', e.held
          FROM flip f, LATERAL (VALUES ('exit', NOT f.now_held), ('enter', f.now_held)) e(op, held);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n OPERATOR(pg_catalog.>) 0 THEN
            PERFORM pg_catalog.setval('cdp.segment_event_id_seq', first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
            PERFORM cdp._notify_events(s.name, first_id, first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
        END IF;
    END IF;
    PERFORM cdp._audit('segment.alter', s.name, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'rule_sha256', cdp._text_digest(rule), 'description_changed', description IS NOT NULL,
                'holdout_percent', holdout_percent, 'requires_consent', requires_consent)));
    SELECT * INTO r FROM cdp._apply_segment(s, NULL, 'altered');
    RETURN pg_catalog.jsonb_build_object('segment', s.name, 'enters', r.enters, 'exits', r.exits);
END
$$;

-- Whether segments need profiling consent granted (opt_in) or only not refused (opt_out, the
-- default). Every segment is evaluated again at once: who lacks it now exits (reason consent).
CREATE FUNCTION cdp.set_profiling_consent(mode text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF mode IS NULL OR mode NOT IN ('opt_in', 'opt_out') THEN
        RAISE EXCEPTION 'unknown profiling consent mode "%"', mode USING ERRCODE = '22023',
              HINT = 'opt_out: a profile that refused profiling is left out of segments (the default); opt_in: one that has not granted it is left out too';
    END IF;
    PERFORM cdp._lock_events();
    INSERT INTO cdp.consent_policy AS c (profiling_requires_grant) VALUES (mode OPERATOR(pg_catalog.=) 'opt_in')
    ON CONFLICT (one) DO UPDATE SET profiling_requires_grant = EXCLUDED.profiling_requires_grant;
    PERFORM cdp._audit('consent.profiling_policy', NULL, pg_catalog.jsonb_build_object('mode', mode));
    RETURN cdp.refresh_segments(NULL);
END
$$;
COMMENT ON FUNCTION cdp.set_profiling_consent(text) IS
'opt_out (default): segments leave out profiles that refused profiling; opt_in: also those that never granted it. Re-evaluates every segment at once (exits with reason consent).';

CREATE OR REPLACE FUNCTION cdp._worker_segments(max_profiles integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET lock_timeout = '200ms'
AS $$
DECLARE
    ids     bigint[];
    s       cdp.segments;
    r       record;
    n_in    bigint := 0;
    n_out   bigint := 0;
    keep    interval := pg_catalog.current_setting('cdp.segment_event_retention')::interval;
    pruned  bigint;
    due     integer[];
    ticking boolean;
    due_ids bigint[];
BEGIN
    PERFORM cdp._prune_audit_log();
    IF keep OPERATOR(pg_catalog.>) interval '0' THEN
        WITH d AS (DELETE FROM cdp.segment_events e
                    WHERE e.at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep)
                   RETURNING e.event_id)
        SELECT pg_catalog.max(d.event_id) INTO pruned FROM d;
        IF pruned IS NOT NULL THEN
            INSERT INTO cdp.event_state AS st (pruned_through) VALUES (pruned)
            ON CONFLICT (one) DO UPDATE SET pruned_through = GREATEST(st.pruned_through, EXCLUDED.pruned_through);
        END IF;
    END IF;
    -- failed segments: whole, every cdp.segment_clock_interval
    SELECT pg_catalog.array_agg(x.segment_id) INTO due FROM cdp.segments x
     WHERE x.failed_sqlstate IS NOT NULL AND (x.refreshed_at IS NULL OR x.refreshed_at OPERATOR(pg_catalog.<=)
           (cdp._clock() OPERATOR(pg_catalog.-) pg_catalog.current_setting('cdp.segment_clock_interval')::interval));
    -- rules that read the clock: the profiles due now, or whole when the due times run out
    ticking := EXISTS (SELECT 1 FROM cdp.segments x
                        WHERE x.reads_clock AND x.failed_sqlstate IS NULL
                          AND (x.due_through IS NULL OR x.due_through OPERATOR(pg_catalog.<=) cdp._clock()
                               OR EXISTS (SELECT 1 FROM cdp.segment_due sd WHERE sd.segment OPERATOR(pg_catalog.=) x.name
                                             AND sd.due_at OPERATOR(pg_catalog.<=) cdp._clock())));
    IF due IS NULL AND NOT ticking AND NOT EXISTS (SELECT 1 FROM cdp.segment_dirty) THEN
        RETURN '{"profiles": 0}'::jsonb;
    END IF;
    IF NOT cdp._lock_events(false) THEN
        RETURN '{"skipped": "another event writer"}'::jsonb;
    END IF;
    FOR s IN SELECT * FROM cdp.segments x WHERE x.segment_id OPERATOR(pg_catalog.=) ANY (due) ORDER BY x.segment_id LOOP
        SELECT * INTO r FROM cdp._worker_apply(s, NULL, 'clock');
        n_in := n_in OPERATOR(pg_catalog.+) r.enters;
        n_out := n_out OPERATOR(pg_catalog.+) r.exits;
    END LOOP;
    FOR s IN SELECT * FROM cdp.segments x WHERE ticking AND x.reads_clock AND x.failed_sqlstate IS NULL ORDER BY x.segment_id LOOP
        due_ids := NULL;
        IF s.due_through IS NOT NULL AND s.due_through OPERATOR(pg_catalog.>) cdp._clock() THEN
            SELECT pg_catalog.array_agg(sd.profile_id) INTO due_ids FROM cdp.segment_due sd
             WHERE sd.segment OPERATOR(pg_catalog.=) s.name AND sd.due_at OPERATOR(pg_catalog.<=) cdp._clock();
            CONTINUE WHEN due_ids IS NULL;
        END IF;
        SELECT * INTO r FROM cdp._worker_apply(s, due_ids, 'clock');
        n_in := n_in OPERATOR(pg_catalog.+) r.enters;
        n_out := n_out OPERATOR(pg_catalog.+) r.exits;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM cdp.segment_dirty) THEN
        RETURN pg_catalog.jsonb_build_object('profiles', 0, 'enters', n_in, 'exits', n_out, 'more', false);
    END IF;
    IF (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp.segment_dirty LIMIT 100001) z) OPERATOR(pg_catalog.>) 100000 THEN
        RETURN cdp.refresh_segments(NULL) OPERATOR(pg_catalog.||) '{"full": true}'::jsonb;
    END IF;
    WITH d AS (
        DELETE FROM cdp.segment_dirty x
         WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM cdp.segment_dirty y LIMIT max_profiles))
        RETURNING x.profile_id)
    SELECT pg_catalog.array_agg(DISTINCT d.profile_id) INTO ids FROM d;
    FOR s IN SELECT * FROM cdp.segments ORDER BY segment_id LOOP
        SELECT * INTO r FROM cdp._worker_apply(s, ids, 'changed');
        n_in := n_in OPERATOR(pg_catalog.+) r.enters;
        n_out := n_out OPERATOR(pg_catalog.+) r.exits;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('profiles', pg_catalog.cardinality(ids), 'enters', n_in, 'exits', n_out,
                                         'more', EXISTS (SELECT 1 FROM cdp.segment_dirty));
END
$$;

CREATE OR REPLACE FUNCTION cdp.add_source(
    source_table regclass,
    key_column   name,
    mapping      jsonb,
    channel      text DEFAULT NULL,
    priority     integer DEFAULT 0)
RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('source.add', source_table::text,
                      pg_catalog.jsonb_build_object('key_column', key_column, 'mapping', mapping, 'channel', channel, 'priority', priority));
    SELECT cdp._add_source(source_table::oid, key_column::text, mapping, channel, priority)
$$;

CREATE OR REPLACE FUNCTION cdp.alter_source(
    source_table regclass,
    mapping      jsonb DEFAULT NULL,
    channel      text DEFAULT NULL,
    priority     integer DEFAULT NULL,
    key_column   name DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('source.alter', source_table::text, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                      'mapping', mapping, 'channel', channel, 'priority', priority, 'key_column', key_column)));
    SELECT cdp._alter_source(source_table::oid, mapping, channel, priority, key_column::text)
$$;

CREATE OR REPLACE FUNCTION cdp.drop_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('source.drop', source_table::text);
    SELECT cdp._drop_source(source_table::oid)
$$;

CREATE OR REPLACE FUNCTION cdp.drop_transaction_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('transaction_source.drop', source_table::text);
    SELECT cdp._drop_activity_source(source_table, 'orders')
$$;

CREATE OR REPLACE FUNCTION cdp.drop_event_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('event_source.drop', source_table::text);
    SELECT cdp._drop_activity_source(source_table, 'events')
$$;

CREATE OR REPLACE FUNCTION cdp.define_trait(name text, expression text, over text DEFAULT 'orders')
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    checked text;
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid trait name "%"', name USING ERRCODE = '22023',
              HINT = 'lowercase letters, digits and underscores, starting with a letter or underscore';
    END IF;
    IF name IN ('first_seen', 'last_seen', 'days_since_last_order', 'tenure_days', 'orders', 'revenue',
                'average_order_value', 'preferred_channel', 'cluster') OR name ~ '^(orders|revenue)_' THEN
        RAISE EXCEPTION 'trait "%" is built in', name USING ERRCODE = '42710';
    END IF;
    over := COALESCE(over, 'orders');
    checked := cdp._check_trait_expression(expression, over);
    BEGIN
        -- the checked expression must also be a valid aggregate over the rows, giving a number
        EXECUTE pg_catalog.format(
            'SELECT (%s)::float8 FROM (SELECT NULL::bigint AS profile_id, %s) x GROUP BY x.profile_id', checked,
            CASE over WHEN 'events' THEN 'NULL::text AS event_type, NULL::timestamptz AS occurred_at, NULL::text AS channel, NULL::integer AS esource_id'
                      ELSE 'NULL::numeric AS amount, NULL::timestamptz AS occurred_at, NULL::text AS currency, NULL::integer AS tsource_id, NULL::text AS channel' END);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'trait expression "%" is not a numeric aggregate over the %: %', expression, over, SQLERRM
              USING ERRCODE = '42601', HINT = CASE over WHEN 'events' THEN 'e.g. count(*) FILTER (WHERE event_type = ''add_to_cart'')'
                                                    ELSE 'e.g. sum(amount) FILTER (WHERE amount > 1000)' END;
    END;
    INSERT INTO cdp.trait_definitions (trait, expression, over, defined_by) VALUES (name, expression, over, cdp._acting_role())
    ON CONFLICT (trait) DO UPDATE SET expression = EXCLUDED.expression, over = EXCLUDED.over, defined_by = EXCLUDED.defined_by,
                                      created_at = pg_catalog.now();
    PERFORM cdp._audit('trait.define', name, pg_catalog.jsonb_build_object('expression_sha256', cdp._text_digest(expression), 'over', over));
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION cdp.set_survivorship(attribute text, rule text)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('survivorship.set', attribute, pg_catalog.jsonb_build_object('rule', rule));
    SELECT cdp._set_survivorship(attribute, rule)
$$;

CREATE OR REPLACE FUNCTION cdp.force_split(record_id bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    record bigint := record_id;
    pid bigint;
    n   integer;
BEGIN
    PERFORM cdp._check_records(record);
    SELECT r.profile_id INTO pid FROM cdp.records r WHERE r.record_id OPERATOR(pg_catalog.=) record;
    DELETE FROM cdp.manual_links l USING cdp.records x
     WHERE x.record_id OPERATOR(pg_catalog.=) record
       AND ((l.source_a OPERATOR(pg_catalog.=) x.source_id AND l.key_a OPERATOR(pg_catalog.=) x.source_key)
            OR (l.source_b OPERATOR(pg_catalog.=) x.source_id AND l.key_b OPERATOR(pg_catalog.=) x.source_key))
       AND l.kind OPERATOR(pg_catalog.=) 'force_link';
    INSERT INTO cdp.manual_links (source_a, key_a, source_b, key_b, kind, created_by)
    SELECT p.source_a, p.key_a, p.source_b, p.key_b, 'cannot_link', cdp._acting_role()
      FROM cdp.records r, LATERAL cdp._row_pair(record, r.record_id) p
     WHERE r.profile_id OPERATOR(pg_catalog.=) pid AND r.record_id OPERATOR(pg_catalog.<>) record
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE cdp.records r SET resolve_pending = true
     WHERE r.record_id OPERATOR(pg_catalog.=) record AND NOT r.resolve_pending;
    PERFORM cdp._audit('steward.force_split', NULL, pg_catalog.jsonb_build_object('record_id', record, 'cannot_links', n));
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION cdp.drop_segment(name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s        cdp.segments := cdp._segment_named(name);
    first_id bigint;
    n        bigint;
BEGIN
    PERFORM cdp._lock_events();
    -- every member exits (reason dropped), then the segment and its memberships go
    first_id := pg_catalog.nextval('cdp.segment_event_id_seq');
    INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, holdout)
    SELECT first_id OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY m.profile_id) OPERATOR(pg_catalog.-) 1,
           s.name, m.profile_id, 'exit', 'dropped', m.holdout
      FROM cdp.segment_members m WHERE m.segment OPERATOR(pg_catalog.=) s.name;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM pg_catalog.setval('cdp.segment_event_id_seq', first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
        PERFORM cdp._notify_events(s.name, first_id, first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
    END IF;
    DELETE FROM cdp.segments x WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
    PERFORM cdp._audit('segment.drop', s.name, pg_catalog.jsonb_build_object('exits', n));
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION cdp.resolve(reestimate boolean DEFAULT false)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._audit('resolve.full', NULL, cdp._resolve(reestimate)) $$;

CREATE OR REPLACE FUNCTION cdp.resolve_changes(max_records integer DEFAULT 10000, wait boolean DEFAULT true)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off   -- many short index look-ups: compiling them costs more than it saves
AS $$ SELECT cdp._audit('resolve.changes', NULL, cdp._resolve_changes(max_records, wait)) $$;


-- ---------------------------------------------------------------------------------------------
-- Segment rules are evaluated over cdp.profile_facts, one row per profile with every trait at
-- its slot, kept current from cdp.facts_dirty (1M profiles x 20 segments: one scan each, no join);
-- a rule on time is read now and at its horizon in the same scan.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp._facts_sql("which" text) RETURNS text
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_facts_sql_wrapper';
CREATE FUNCTION cdp._slot_values("slots" integer[], "values" double precision[]) RETURNS double precision[]
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_slot_values_wrapper';
CREATE FUNCTION cdp._slot_texts("slots" integer[], "values" text[]) RETURNS text[]
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_slot_texts_wrapper';
CREATE FUNCTION cdp._segment_query_two_clocks("rule" text, "scope" text, "later" text) RETURNS text
STRICT STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_segment_query_two_clocks_wrapper';
-- "record exists" is checked once, in Rust, for the steward decisions as for explain_match
DROP FUNCTION cdp._check_records(bigint[]);
CREATE FUNCTION cdp._check_records(VARIADIC "ids" bigint[]) RETURNS void
STRICT STABLE PARALLEL SAFE SET search_path TO pg_catalog, pg_temp LANGUAGE c AS 'MODULE_PATHNAME', '_check_records_wrapper';
ALTER FUNCTION cdp._facts_sql(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION cdp._slot_values(integer[], double precision[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION cdp._slot_texts(integer[], text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION cdp._segment_query_two_clocks(text, text, text) SET search_path = pg_catalog, pg_temp;

-- Every trait name a segment rule may use, and whether its value is text: the built-in traits,
-- the per-channel ones of the registered order tables and the custom definitions (computed or not).
CREATE FUNCTION cdp._trait_names()
RETURNS TABLE (trait text, is_text boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT z.t, z.t OPERATOR(pg_catalog.=) 'preferred_channel' FROM (
        SELECT pg_catalog.unnest(ARRAY['first_seen', 'last_seen', 'days_since_last_order', 'tenure_days', 'orders',
                                       'revenue', 'average_order_value', 'preferred_channel', 'cluster']) AS t
        UNION SELECT d.trait FROM cdp.trait_definitions d
        UNION SELECT k OPERATOR(pg_catalog.||) COALESCE(s.channel, 'unknown')
                FROM cdp.transaction_sources s, pg_catalog.unnest(ARRAY['orders_', 'revenue_']) k) z
$$;

-- The row a segment rule is evaluated over, one per profile, kept as a table so that a rule is
-- one scan of one table with no join: the columns of cdp.customer_360 that rules name, and every
-- trait at its slot in one array (numeric traits in traits, text ones in text_traits). Brought up
-- to date by cdp._refresh_facts before any rule is evaluated, for the profiles marked in
-- cdp.facts_dirty. Its columns are those of the select list in crates/cdp-core/src/segments.rs, written once.
CREATE TABLE cdp.trait_slots (
    trait   text PRIMARY KEY,
    slot    integer NOT NULL UNIQUE CHECK (slot > 0),
    is_text boolean NOT NULL
);
COMMENT ON TABLE cdp.trait_slots IS 'The position of each trait in the trait arrays of cdp.profile_facts; a slot is never reused.';
CREATE TABLE cdp.facts_dirty (profile_id bigint NOT NULL);
COMMENT ON TABLE cdp.facts_dirty IS 'Profiles whose row in cdp.profile_facts is rebuilt before the next segment evaluation.';
DO $facts$
BEGIN
    EXECUTE cdp._facts_sql('create');
END
$facts$;
ALTER TABLE cdp.profile_facts ADD PRIMARY KEY (profile_id);
COMMENT ON TABLE cdp.profile_facts IS 'One row per profile as segment rules read it: golden record, RFM and lifetime value columns, and every trait at its slot (cdp.trait_slots). Kept current while segments exist.';
SELECT pg_catalog.pg_extension_config_dump('cdp.trait_slots', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.facts_dirty', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_facts', '');

-- cdp.profile_facts brought up to date: the rows of the profiles marked in cdp.facts_dirty are
-- rebuilt (gone for a profile that no longer exists), or every row when whole or when more than
-- 100,000 are marked. A trait name without a slot gets the next one first. One refresh at a
-- time: an advisory lock, which neither readers nor autovacuum wait for or make wait (a table
-- lock that conflicts with itself also conflicts with autovacuum, and the worker's step would
-- time out behind it). Every segment evaluation calls it first, so rules never read facts older
-- than the tables they come from.
CREATE FUNCTION cdp._refresh_facts(whole boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    ids bigint[];
    n   bigint;
BEGIN
    IF NOT whole AND NOT EXISTS (SELECT 1 FROM cdp.facts_dirty) THEN
        RETURN 0;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock('cdp.profile_facts'::regclass::oid::bigint);
    INSERT INTO cdp.trait_slots (trait, slot, is_text)
    SELECT t.trait, (COALESCE((SELECT pg_catalog.max(s.slot) FROM cdp.trait_slots s), 0)
                     OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY t.trait))::integer, t.is_text
      FROM cdp._trait_names() t
     WHERE NOT EXISTS (SELECT 1 FROM cdp.trait_slots s WHERE s.trait OPERATOR(pg_catalog.=) t.trait);
    IF NOT whole THEN
        whole := (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp.facts_dirty LIMIT 100001) z) OPERATOR(pg_catalog.>) 100000;
    END IF;
    IF whole THEN
        DELETE FROM cdp.facts_dirty;
        TRUNCATE cdp.profile_facts;
        EXECUTE cdp._facts_sql('all');
        GET DIAGNOSTICS n = ROW_COUNT;
        ANALYZE cdp.profile_facts;
    ELSE
        WITH d AS (DELETE FROM cdp.facts_dirty RETURNING profile_id)
        SELECT pg_catalog.array_agg(DISTINCT d.profile_id) INTO ids FROM d;
        DELETE FROM cdp.profile_facts f WHERE f.profile_id OPERATOR(pg_catalog.=) ANY (ids);
        EXECUTE cdp._facts_sql('ids') USING ids;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    RETURN n;
END
$$;

DROP FUNCTION cdp._segment_due(cdp.segments, bigint[]);

-- When the rule of a segment that reads the clock next changes its mind, per profile (those in
-- ids, or all). cdp._apply_segment evaluates such a rule now and at the end of the horizon in
-- one scan (cdp._segment_query_two_clocks); the profiles whose two answers differ go to
-- pg_temp.cdp_due_search, and cdp._segment_due finds the moment of change by bisection to within
-- 30 s (the member query in probe form: each profile at its own time) and stores it in
-- cdp.segment_due. A whole evaluation sets a new horizon, cdp.segment_due_horizon ahead; the
-- profiles of a batch keep the segment's. A profile whose predicate changes and changes back
-- within the horizon is seen at the next whole evaluation. Plain operators: the search_path is
-- pinned to pg_catalog.
--
-- The horizon of an evaluation (returned), with the due times it replaces deleted and the
-- search table empty.
CREATE FUNCTION cdp._due_horizon(seg cdp.segments, ids bigint[])
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t0    timestamptz := cdp._clock();
    t_end timestamptz := seg.due_through;
BEGIN
    IF ids IS NULL OR t_end IS NULL OR t_end <= t0 THEN
        t_end := t0 + pg_catalog.current_setting('cdp.segment_due_horizon')::interval;
        UPDATE cdp.segments x SET due_through = t_end WHERE x.segment_id = seg.segment_id;
        DELETE FROM cdp.segment_due d WHERE d.segment = seg.name;
    ELSE
        DELETE FROM cdp.segment_due d WHERE d.segment = seg.name AND d.profile_id = ANY (ids);
    END IF;
    IF pg_catalog.to_regclass('pg_temp.cdp_probe') IS NULL THEN
        CREATE TEMP TABLE cdp_probe (profile_id bigint PRIMARY KEY, at timestamptz NOT NULL) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE cdp_due_search (profile_id bigint PRIMARY KEY, lo timestamptz, hi timestamptz, held boolean) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE pg_temp.cdp_due_search;
    RETURN t_end;
END
$$;

-- The bisection over pg_temp.cdp_due_search (profile, the interval the change lies in, and
-- whether the rule holds at its start), then the due times stored. Returns their number.
CREATE FUNCTION cdp._segment_due(seg cdp.segments)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    probe  text := cdp._segment_query(cdp._member_rule(seg), 'probe');
    n      bigint;
BEGIN
    LOOP
        TRUNCATE pg_temp.cdp_probe;
        INSERT INTO pg_temp.cdp_probe (profile_id, at)
        SELECT s.profile_id, s.lo + (s.hi - s.lo) / 2 FROM pg_temp.cdp_due_search s WHERE s.hi - s.lo > interval '30 seconds';
        EXIT WHEN NOT FOUND;
        ANALYZE pg_temp.cdp_probe;      -- a few profiles: the planner probes their rows by index
        -- the predicate at the middle: still as it was at the start (the change comes later) or not
        EXECUTE pg_catalog.format(
            'UPDATE pg_temp.cdp_due_search s
                SET lo = CASE WHEN h.holds = s.held THEN h.at ELSE s.lo END,
                    hi = CASE WHEN h.holds = s.held THEN s.hi ELSE h.at END
               FROM (SELECT pr.profile_id, pr.at, z.profile_id IS NOT NULL AS holds
                       FROM pg_temp.cdp_probe pr LEFT JOIN (%s) z ON z.profile_id = pr.profile_id) h
              WHERE h.profile_id = s.profile_id', probe);
    END LOOP;
    INSERT INTO cdp.segment_due (segment, profile_id, due_at)
    SELECT seg.name, s.profile_id, s.hi FROM pg_temp.cdp_due_search s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION cdp._mark_dirty()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- a profile created, changed or removed by a resolve run has its traits refreshed (its
    -- orders and events may now be another profile's) while order or event tables exist
    IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'profiles'
       AND (EXISTS (SELECT 1 FROM cdp.transaction_sources) OR EXISTS (SELECT 1 FROM cdp.event_sources)) THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
            INSERT INTO cdp.trait_dirty (profile_id) SELECT o.profile_id FROM dirty_old o;
        ELSE
            INSERT INTO cdp.trait_dirty (profile_id) SELECT n.profile_id FROM dirty_new n;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        RETURN NULL;
    END IF;
    -- the segments are evaluated again for these profiles, over their rebuilt facts
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        WITH x AS (SELECT DISTINCT o.profile_id FROM dirty_old o),
             f AS (INSERT INTO cdp.facts_dirty (profile_id) SELECT x.profile_id FROM x)
        INSERT INTO cdp.segment_dirty (profile_id) SELECT x.profile_id FROM x;
    ELSE
        WITH x AS (SELECT DISTINCT n.profile_id FROM dirty_new n),
             f AS (INSERT INTO cdp.facts_dirty (profile_id) SELECT x.profile_id FROM x)
        INSERT INTO cdp.segment_dirty (profile_id) SELECT x.profile_id FROM x;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION cdp._apply_segment(seg cdp.segments, ids bigint[], why text)
RETURNS TABLE (enters bigint, exits bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    first_id bigint := pg_catalog.nextval('cdp.segment_event_id_seq');
    n_in     bigint;
    n_out    bigint;
    scope    text := CASE WHEN ids IS NULL THEN 'all' ELSE 'ids' END;
    t_end    timestamptz;      -- a rule on time: the end of its due-time horizon ($6)
    answer   text := '';       -- a rule on time: its answer now and at t_end, in one scan
    now_in   text;             -- the profiles the rule holds for now
    rule     text := cdp._member_rule(seg);
BEGIN
    PERFORM cdp._refresh_facts();
    IF seg.reads_clock THEN
        t_end := cdp._due_horizon(seg, ids);
        answer := pg_catalog.format(
            'answer AS MATERIALIZED (%s),
             searched AS (INSERT INTO pg_temp.cdp_due_search (profile_id, lo, hi, held)
                          SELECT a.profile_id, cdp._clock(), $6, a.now_in FROM answer a
                           WHERE a.now_in OPERATOR(pg_catalog.<>) a.later_in),',
            cdp._segment_query_two_clocks(rule, scope, '$6'));
        now_in := 'SELECT a.profile_id FROM answer a WHERE a.now_in';
    ELSE
        now_in := cdp._segment_query(rule, scope);
    END IF;
    -- one pass over the rule's answer and the memberships: who is in and not a member (enters),
    -- who is a member and no longer in (exits)
    EXECUTE pg_catalog.format($q$
        WITH %s
        diff AS MATERIALIZED (
            SELECT COALESCE(n.profile_id, m.profile_id) AS profile_id, n.profile_id IS NULL AS leaving
              FROM (%s) n
              FULL JOIN (SELECT mm.profile_id FROM cdp.segment_members mm
                          WHERE mm.segment OPERATOR(pg_catalog.=) $2
                            AND ($1 IS NULL OR mm.profile_id OPERATOR(pg_catalog.=) ANY ($1))) m
                ON m.profile_id OPERATOR(pg_catalog.=) n.profile_id
             WHERE n.profile_id IS NULL OR m.profile_id IS NULL),
        gone AS (
            DELETE FROM cdp.segment_members m USING diff d
             WHERE d.leaving AND m.segment OPERATOR(pg_catalog.=) $2 AND m.profile_id OPERATOR(pg_catalog.=) d.profile_id
            RETURNING m.profile_id, m.holdout),
        came AS (
            INSERT INTO cdp.segment_members (segment, profile_id, holdout)
            SELECT $2, d.profile_id, cdp._holdout($2, d.profile_id, $3) FROM diff d WHERE NOT d.leaving
            RETURNING profile_id, holdout),
        changes AS (
            SELECT 'exit' AS op, g.profile_id, g.holdout FROM gone g
            UNION ALL SELECT 'enter', c.profile_id, c.holdout FROM came c),
        numbered AS (
            -- exits first, then enters, each by profile id: ids follow on from $5
            SELECT $5 OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY ch.op DESC, ch.profile_id) OPERATOR(pg_catalog.-) 1 AS event_id, ch.*,
                   (SELECT l.new_profile_id FROM cdp.profile_lineage l
                     WHERE ch.op OPERATOR(pg_catalog.=) 'exit' AND l.old_profile_id OPERATOR(pg_catalog.=) ch.profile_id
                       AND l.kind OPERATOR(pg_catalog.=) 'merge'
                     ORDER BY l.lineage_id DESC LIMIT 1) AS merged_into,
                   ch.op OPERATOR(pg_catalog.=) 'exit'
                   AND NOT EXISTS (SELECT 1 FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) ch.profile_id) AS vanished,
                   ch.op OPERATOR(pg_catalog.=) 'exit'
                   AND EXISTS (SELECT 1 FROM cdp.profile_facts f WHERE f.profile_id OPERATOR(pg_catalog.=) ch.profile_id AND %s) AS refused
              FROM changes ch)
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, merged_into, holdout)
        SELECT x.event_id, $2, x.profile_id, x.op,
               CASE WHEN x.vanished AND x.merged_into IS NOT NULL THEN 'merged' WHEN x.vanished THEN 'gone'
                    WHEN x.refused THEN 'consent' ELSE $4 END,
               CASE WHEN x.vanished THEN x.merged_into END, x.holdout
          FROM numbered x
        $q$, answer, now_in, cdp._consent_blocked(seg, 'f.'))
    USING ids, seg.name, seg.holdout_percent, why, first_id, t_end;
    SELECT pg_catalog.count(*) FILTER (WHERE e.op OPERATOR(pg_catalog.=) 'enter'),
           pg_catalog.count(*) FILTER (WHERE e.op OPERATOR(pg_catalog.=) 'exit')
      INTO n_in, n_out
      FROM cdp.segment_events e WHERE e.event_id OPERATOR(pg_catalog.>=) first_id;
    IF n_in OPERATOR(pg_catalog.+) n_out OPERATOR(pg_catalog.>) 0 THEN
        PERFORM pg_catalog.setval('cdp.segment_event_id_seq', first_id OPERATOR(pg_catalog.+) n_in OPERATOR(pg_catalog.+) n_out OPERATOR(pg_catalog.-) 1);
        PERFORM cdp._notify_events(seg.name, first_id, first_id OPERATOR(pg_catalog.+) n_in OPERATOR(pg_catalog.+) n_out OPERATOR(pg_catalog.-) 1);
    END IF;
    -- a rule that reads the clock: when will it next change its mind for these profiles
    IF seg.reads_clock THEN
        PERFORM cdp._segment_due(seg);
    ELSIF ids IS NULL THEN
        DELETE FROM cdp.segment_due d WHERE d.segment OPERATOR(pg_catalog.=) seg.name;
    END IF;
    RETURN QUERY SELECT n_in, n_out;
END
$$;

CREATE OR REPLACE FUNCTION cdp.define_segment(name text, rule text, description text DEFAULT NULL, holdout_percent numeric DEFAULT 0,
                                   requires_consent text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s cdp.segments;
BEGIN
    IF name IS NULL OR pg_catalog.length(name) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'invalid segment name "%"', name USING ERRCODE = '22023', HINT = '1 to 100 characters';
    END IF;
    IF holdout_percent IS NULL OR holdout_percent OPERATOR(pg_catalog.<) 0 OR holdout_percent OPERATOR(pg_catalog.>) 100 THEN
        RAISE EXCEPTION 'holdout_percent must be between 0 and 100, not %', holdout_percent USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.segments x WHERE x.name OPERATOR(pg_catalog.=) name) THEN
        RAISE EXCEPTION 'segment "%" already exists', name USING ERRCODE = '42710',
              HINT = 'change it with cdp.alter_segment';
    END IF;
    PERFORM cdp._check_segment_rule(rule);
    PERFORM cdp._check_consent_purpose(requires_consent);
    PERFORM cdp._lock_events();
    -- the facts are kept current only while segments exist: the first one rebuilds them
    IF NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        PERFORM cdp._refresh_facts(true);
    END IF;
    INSERT INTO cdp.segments (name, rule, description, holdout_percent, requires_consent, reads_clock, defined_by, refreshed_at)
    VALUES (name, rule, description, holdout_percent, requires_consent, cdp._segment_reads_clock(rule), cdp._acting_role(), cdp._clock())
    RETURNING * INTO s;
    PERFORM cdp._audit('segment.define', name, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'rule_sha256', cdp._text_digest(rule), 'holdout_percent', holdout_percent, 'requires_consent', requires_consent)));
    -- filled at once: each initial member is one enter event (reason defined)
    PERFORM cdp._apply_segment(s, NULL, 'defined');
    RETURN s.segment_id;
END
$$;

CREATE OR REPLACE FUNCTION cdp._worker_resolve(max_records integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
-- the worker gives way (and retries later) rather than wait: behind a DROP EXTENSION taking its
-- tables one by one, waiting would be a deadlock that PostgreSQL may settle against the DROP
SET lock_timeout = '200ms'
AS $$
BEGIN
    RETURN cdp._resolve_changes(max_records, false);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    -- no model stored yet, or none of this version's shape (cdp._resolve_changes decides): only
    -- a full cdp.resolve() can make one. Any other error ends the step's transaction and comes
    -- back to the worker as its SQLSTATE (src/worker.rs), which logs it and retries.
    RETURN '{"skipped": "no usable model"}'::jsonb;
END
$$;

-- the stored comparison levels are read back by name in Rust, where they are written
CREATE FUNCTION cdp._edge_evidence("levels" smallint[]) RETURNS jsonb
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_edge_evidence_wrapper';
ALTER FUNCTION cdp._edge_evidence(smallint[]) SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION cdp._edge_evidence(smallint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._edge_evidence(smallint[]) TO cdp_admin;
CREATE OR REPLACE FUNCTION cdp.explain_profile(profile_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p   cdp.profiles;
    pid bigint := profile_id;
BEGIN
    SELECT * INTO p FROM cdp.profiles x WHERE x.profile_id OPERATOR(pg_catalog.=) pid;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM cdp.profile_lineage l WHERE l.old_profile_id OPERATOR(pg_catalog.=) pid) THEN
            RAISE EXCEPTION 'profile % no longer exists', pid USING ERRCODE = '42704',
                  HINT = 'it was merged or split: SELECT * FROM cdp.profile_lineage WHERE old_profile_id = ' OPERATOR(pg_catalog.||) pid;
        END IF;
        RAISE EXCEPTION 'profile % does not exist', pid USING ERRCODE = '42704';
    END IF;
    RETURN pg_catalog.jsonb_build_object(
        'profile_id', p.profile_id,
        'golden', p.display,
        'provenance', p.provenance,
        'records', p.record_count,
        'sources', p.source_count,
        'members', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'record_id', m.record_id, 'source_table', m.source_table::text,
                        'source_key', m.source_key, 'channel', m.channel) ORDER BY m.record_id)
                      FROM cdp.profile_members m WHERE m.profile_id OPERATOR(pg_catalog.=) pid),
        'edges', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'record_a', e.record_a, 'record_b', e.record_b, 'weight', e.weight,
                        'evidence', cdp._edge_evidence(e.levels))
                        ORDER BY e.weight DESC, e.record_a, e.record_b)
                    FROM cdp.match_edges e
                    JOIN cdp.records ra ON ra.record_id OPERATOR(pg_catalog.=) e.record_a
                   WHERE ra.profile_id OPERATOR(pg_catalog.=) pid),
        'manual', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'record_a', l.record_a, 'record_b', l.record_b, 'kind', l.kind) ORDER BY l.record_a, l.record_b)
                     FROM cdp.manual_link_records l
                     JOIN cdp.records ra ON ra.record_id OPERATOR(pg_catalog.=) l.record_a
                    WHERE ra.profile_id OPERATOR(pg_catalog.=) pid),
        'lineage', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'kind', l.kind, 'old_profile_id', l.old_profile_id, 'new_profile_id', l.new_profile_id,
                        'records', l.records, 'reason', l.reason, 'run_id', l.run_id) ORDER BY l.lineage_id)
                      FROM cdp.profile_lineage l
                     WHERE l.new_profile_id OPERATOR(pg_catalog.=) pid OR l.old_profile_id OPERATOR(pg_catalog.=) pid),
        'created_at', p.created_at,
        'updated_at', p.updated_at);
END
$$;

-- a steward's review queue: the least certain pairs, and a pair-level cannot-link; the threshold
-- in force (cdp.match_threshold as the model's steward decisions moved it)
CREATE FUNCTION cdp._effective_threshold() RETURNS double precision
STRICT STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_effective_threshold_wrapper';
ALTER FUNCTION cdp._effective_threshold() SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION cdp._effective_threshold() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._effective_threshold() TO cdp_admin;
-- Pairs the last full run scored a little below cdp.match_threshold (within 4 bits): the least
-- certain rejections, for cdp.review_queue. Same columns as cdp.match_edges.
CREATE TABLE cdp.near_matches (
    record_a bigint NOT NULL,
    record_b bigint NOT NULL,
    weight   double precision NOT NULL,
    levels   smallint[] NOT NULL,
    PRIMARY KEY (record_a, record_b)
);
SELECT pg_catalog.pg_extension_config_dump('cdp.near_matches', '');
GRANT SELECT ON cdp.near_matches TO cdp_admin;

-- A steward's decision on a pair of records ('force_link' or 'cannot_link'): replaces the
-- opposite decision on the same pair, and marks both records pending for the next incremental
-- run (the worker's), which re-clusters their profiles.
CREATE FUNCTION cdp._decide_pair(record_a bigint, record_b bigint, kind text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM cdp._check_records(record_a, record_b);
    IF record_a OPERATOR(pg_catalog.=) record_b THEN
        RAISE EXCEPTION 'cannot link record % to itself', record_a USING ERRCODE = '22023';
    END IF;
    DELETE FROM cdp.manual_links l USING cdp._row_pair(record_a, record_b) p
     WHERE (l.source_a, l.key_a, l.source_b, l.key_b) OPERATOR(pg_catalog.=) (p.source_a, p.key_a, p.source_b, p.key_b)
       AND l.kind OPERATOR(pg_catalog.<>) kind;
    INSERT INTO cdp.manual_links (source_a, key_a, source_b, key_b, kind, created_by)
    SELECT p.source_a, p.key_a, p.source_b, p.key_b, kind, cdp._acting_role()
      FROM cdp._row_pair(record_a, record_b) p
    ON CONFLICT DO NOTHING;
    UPDATE cdp.records r SET resolve_pending = true
     WHERE r.record_id OPERATOR(pg_catalog.=) ANY (ARRAY[record_a, record_b]) AND NOT r.resolve_pending;
    PERFORM cdp._audit('steward.' OPERATOR(pg_catalog.||) kind, NULL,
                       pg_catalog.jsonb_build_object('record_a', record_a, 'record_b', record_b));
    RETURN true;
END
$$;

DROP FUNCTION cdp.force_link(bigint, bigint);
CREATE FUNCTION cdp.force_link(record_a bigint, record_b bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._decide_pair(record_a, record_b, 'force_link') $$;
COMMENT ON FUNCTION cdp.force_link(bigint, bigint) IS
'Steward decision: these two records are one person. Kept across runs; applied by the next cdp.resolve() or cdp.resolve_changes() (the two records are marked pending).';

CREATE FUNCTION cdp.cannot_link(record_a bigint, record_b bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._decide_pair(record_a, record_b, 'cannot_link') $$;
COMMENT ON FUNCTION cdp.cannot_link(bigint, bigint) IS
'Steward decision: these two records are not one person (they never share a profile, whatever links them through other records). Kept across runs; applied by the next cdp.resolve() or cdp.resolve_changes() (the two records are marked pending).';

-- The pairs whose decision is least certain, for a data steward: accepted pairs within 4 bits
-- above the threshold in force (cdp._effective_threshold: cdp.match_threshold as the model's
-- steward decisions moved it), rejected ones within 4 bits below it (the last full run's), and
-- accepted pairs that a clustering guard keeps in two profiles; without the pairs a steward has
-- decided. SECURITY DEFINER: it returns record and profile ids, weights and comparison levels,
-- never values, so a steward needs no right on the records.
CREATE FUNCTION cdp.review_queue(max_pairs integer DEFAULT 50)
RETURNS TABLE (record_a bigint, record_b bigint, profile_a bigint, profile_b bigint, weight double precision,
               margin double precision, reason text, evidence jsonb)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH t AS (SELECT cdp._effective_threshold() AS th),
    pairs AS (
        SELECT e.record_a, e.record_b, e.weight, e.levels, true AS accepted FROM cdp.match_edges e
        UNION ALL
        SELECT n.record_a, n.record_b, n.weight, n.levels, false FROM cdp.near_matches n
    ),
    judged AS (
        SELECT p.record_a, p.record_b, ra.profile_id AS profile_a, rb.profile_id AS profile_b, p.weight,
               p.weight OPERATOR(pg_catalog.-) t.th AS margin, p.levels,
               CASE WHEN p.accepted AND p.weight OPERATOR(pg_catalog.>=) t.th
                         AND ra.profile_id IS DISTINCT FROM rb.profile_id THEN 'kept_apart_by_a_guard'
                    WHEN p.weight OPERATOR(pg_catalog.>=) t.th THEN 'accepted_near_threshold'
                    ELSE 'rejected_near_threshold' END AS reason
          FROM pairs p CROSS JOIN t
          JOIN cdp.records ra ON ra.record_id OPERATOR(pg_catalog.=) p.record_a
          JOIN cdp.records rb ON rb.record_id OPERATOR(pg_catalog.=) p.record_b
         WHERE pg_catalog.abs(p.weight OPERATOR(pg_catalog.-) t.th) OPERATOR(pg_catalog.<) 4
            OR (p.accepted AND p.weight OPERATOR(pg_catalog.>=) t.th AND ra.profile_id IS DISTINCT FROM rb.profile_id)
    )
    SELECT j.record_a, j.record_b, j.profile_a, j.profile_b, j.weight, j.margin, j.reason, cdp._edge_evidence(j.levels)
      FROM judged j
     WHERE NOT EXISTS (SELECT 1 FROM cdp.manual_link_records m
                        WHERE m.record_a OPERATOR(pg_catalog.=) LEAST(j.record_a, j.record_b)
                          AND m.record_b OPERATOR(pg_catalog.=) GREATEST(j.record_a, j.record_b))
     ORDER BY (j.reason OPERATOR(pg_catalog.<>) 'kept_apart_by_a_guard'), pg_catalog.abs(j.margin), j.record_a, j.record_b
     LIMIT GREATEST(max_pairs, 0)
$$;
COMMENT ON FUNCTION cdp.review_queue(integer) IS
'The record pairs whose decision is least certain, for a data steward: accepted pairs a clustering guard keeps apart first, then pairs within 4 bits of cdp.match_threshold (accepted, or rejected by the last full run), closest first, with their evidence per field; pairs already decided (cdp.force_link, cdp.cannot_link) are left out.';
REVOKE ALL ON FUNCTION cdp._decide_pair(bigint, bigint, text), cdp.force_link(bigint, bigint), cdp.cannot_link(bigint, bigint),
       cdp.review_queue(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._decide_pair(bigint, bigint, text), cdp.force_link(bigint, bigint), cdp.cannot_link(bigint, bigint),
      cdp.review_queue(integer) TO cdp_admin;

-- the registration checks of order and event tables, column types included, are made once, in Rust
DROP FUNCTION cdp._check_activity_table(oid, oid, text, text[]);
CREATE FUNCTION cdp._check_activity_table("source_table" oid, "customer_source" oid, "customer_key_column" text,
    "amount_column" text, "occurred_at_column" text, "currency_column" text, "event_type_column" text) RETURNS integer
STABLE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', '_check_activity_table_wrapper';
ALTER FUNCTION cdp._check_activity_table(oid, oid, text, text, text, text, text) SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION cdp._check_activity_table(oid, oid, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._check_activity_table(oid, oid, text, text, text, text, text) TO cdp_admin;
CREATE OR REPLACE FUNCTION cdp.add_transaction_source(
    source_table        regclass,
    customer_source     regclass,
    customer_key_column name,
    amount_column       name,
    occurred_at_column  name,
    channel             text DEFAULT NULL,
    currency_column     name DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    csid   integer := cdp._check_activity_table(source_table, customer_source, customer_key_column,
                                                amount_column, occurred_at_column, currency_column, NULL);
    id     integer;
BEGIN
    INSERT INTO cdp.transaction_sources (source_table, customer_source_id, customer_key_column, amount_column,
                                         occurred_at_column, currency_column, channel, registered_by)
    VALUES (source_table, csid, customer_key_column, amount_column, occurred_at_column, currency_column, channel,
            cdp._acting_role()::regrole)
    RETURNING tsource_id INTO id;
    PERFORM cdp._activity_triggers(source_table, csid, customer_key_column);
    PERFORM cdp._audit('transaction_source.add', source_table::text, pg_catalog.jsonb_build_object(
                'customer_source', customer_source::text, 'customer_key_column', customer_key_column, 'amount_column', amount_column,
                'occurred_at_column', occurred_at_column, 'currency_column', currency_column, 'channel', channel));
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION cdp.add_event_source(
    source_table        regclass,
    customer_source     regclass,
    customer_key_column name,
    event_type_column   name,
    occurred_at_column  name,
    channel             text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    csid   integer := cdp._check_activity_table(source_table, customer_source, customer_key_column,
                                                NULL, occurred_at_column, NULL, event_type_column);
    id     integer;
BEGIN
    INSERT INTO cdp.event_sources (source_table, customer_source_id, customer_key_column, event_type_column,
                                   occurred_at_column, channel, registered_by)
    VALUES (source_table, csid, customer_key_column, event_type_column, occurred_at_column, channel, cdp._acting_role()::regrole)
    RETURNING esource_id INTO id;
    PERFORM cdp._activity_triggers(source_table, csid, customer_key_column);
    PERFORM cdp._audit('event_source.add', source_table::text, pg_catalog.jsonb_build_object(
                'customer_source', customer_source::text, 'customer_key_column', customer_key_column,
                'event_type_column', event_type_column, 'occurred_at_column', occurred_at_column, 'channel', channel));
    -- the customers who already have events get their event traits at the worker's next step
    INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
    RETURN id;
END
$$;

-- cdp.worker_status() also says what the worker is doing and has done (shared memory)
CREATE FUNCTION cdp._worker_state() RETURNS TABLE ("step" text, "applied_last_minute" bigint, "last_batch_rows" bigint,
    "last_batch_seconds" double precision, "last_batch_at" double precision, "last_error_sqlstate" text, "last_error_at" double precision)
STRICT VOLATILE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_worker_state_wrapper';
ALTER FUNCTION cdp._worker_state() SET search_path = pg_catalog, pg_temp;
DROP FUNCTION cdp.worker_status();
CREATE FUNCTION cdp.worker_status(
    OUT preloaded boolean,
    OUT worker_pid integer,
    OUT worker_database text,
    OUT queued_changes bigint,
    OUT oldest_change_age interval,
    OUT state text,
    OUT rows_per_second double precision,
    OUT last_batch_rows bigint,
    OUT last_batch_seconds double precision,
    OUT last_batch_at timestamptz,
    OUT last_error_sqlstate text,
    OUT last_error_at timestamptz)
RETURNS record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._require_worker(),
           (SELECT a.pid FROM pg_catalog.pg_stat_activity a
             WHERE a.backend_type OPERATOR(pg_catalog.=) 'pg_cdp worker' LIMIT 1),
           pg_catalog.current_setting('cdp.database'),
           (SELECT pg_catalog.count(*) FROM cdp.change_queue),
           (SELECT pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.queued_at) FROM cdp.change_queue q),
           w.step,
           w.applied_last_minute OPERATOR(pg_catalog./) 60.0::float8,
           w.last_batch_rows,
           w.last_batch_seconds,
           pg_catalog.to_timestamp(w.last_batch_at),
           w.last_error_sqlstate,
           pg_catalog.to_timestamp(w.last_error_at)
      FROM cdp._worker_state() w
$$;
COMMENT ON FUNCTION cdp.worker_status() IS
'The background worker: its pid, database, the changes waiting for it, what it is doing (state: idle, applying changes, resolving, refreshing traits, evaluating segments, waiting for ALTER EXTENSION UPDATE), the rows a second it applied over the last minute, its last batch and its last error. Errors with a hint when pg_cdp is not preloaded.';

REVOKE ALL ON FUNCTION cdp._worker_state(), cdp.worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._worker_state(), cdp.worker_status() TO cdp_admin;
-- and where its time goes, step by step
CREATE FUNCTION cdp.worker_steps() RETURNS TABLE ("step" text, "runs" bigint, "seconds" double precision)
STRICT VOLATILE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'worker_steps_wrapper';
ALTER FUNCTION cdp.worker_steps() SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION cdp.worker_steps() IS
'Where the background worker''s time goes: each step (applying changes, resolving, refreshing traits, evaluating segments, idle, waiting for ALTER EXTENSION UPDATE) with the number of times it ran and its total seconds since the worker started. Errors with a hint when pg_cdp is not preloaded.';
REVOKE ALL ON FUNCTION cdp.worker_steps() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.worker_steps() TO cdp_admin;

-- a transaction that queues changes wakes the worker at commit
CREATE FUNCTION cdp._wake_worker() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', '_wake_worker_wrapper';
ALTER FUNCTION cdp._wake_worker() SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION cdp._wake_worker_at_commit() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', '_wake_worker_at_commit_wrapper';
ALTER FUNCTION cdp._wake_worker_at_commit() SET search_path = pg_catalog, pg_temp;
-- Whatever queues changes wakes the worker when its transaction commits, so they are applied at
-- once instead of at the worker's next poll (cdp.worker_naptime): the capture trigger and the
-- Rust functions ask for the worker's latch to be set at commit themselves, the SQL functions
-- call cdp._wake_worker_at_commit() (src/api/worker.rs). The queue has no trigger (and no CHECK
-- constraint): the executor would read its stored expression again on every application write.
ALTER TABLE cdp.change_queue DROP CONSTRAINT change_queue_op_check;
CREATE TRIGGER wake_worker AFTER INSERT ON cdp.activity_queue FOR EACH STATEMENT EXECUTE FUNCTION cdp._wake_worker();
REVOKE ALL ON FUNCTION cdp._wake_worker(), cdp._wake_worker_at_commit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._wake_worker() TO cdp_admin, cdp_capture;
GRANT EXECUTE ON FUNCTION cdp._wake_worker_at_commit() TO cdp_admin;

-- a statement that changed many rows queues its keys as one row
ALTER TABLE cdp.change_queue ADD COLUMN source_keys text[];
COMMENT ON TABLE cdp.change_queue IS 'Keys of source rows changed since they were last synced (one row per key, or one row with source_keys for a statement that changed many rows); drained by the background worker or cdp.process_changes(). A key that failed waits with its attempts and SQLSTATE.';
CREATE OR REPLACE FUNCTION cdp.process_changes(max_changes integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    batch   record;
    applied bigint := 0;
    keep    interval := pg_catalog.current_setting('cdp.quarantine_retention')::interval;
BEGIN
    IF max_changes IS NULL OR max_changes OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'max_changes must be at least 1, not %', max_changes
              USING ERRCODE = '22023';
    END IF;
    IF keep OPERATOR(pg_catalog.>) interval '0' THEN
        DELETE FROM cdp.quarantine q
         WHERE q.created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep);
    END IF;
    FOR batch IN
        WITH picked AS (
            DELETE FROM cdp.change_queue q
             WHERE q.change_id OPERATOR(pg_catalog.=) ANY (ARRAY(
                   SELECT c.change_id FROM cdp.change_queue c
                    WHERE c.next_attempt_at IS NULL OR c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()
                    ORDER BY c.change_id LIMIT max_changes
                      FOR UPDATE SKIP LOCKED))
            RETURNING q.source_id, q.source_key, q.op, q.attempts, q.source_keys
        ), per_key AS (
            SELECT p.source_id, p.op, k.source_key, pg_catalog.max(p.attempts) AS attempts
              FROM picked p
             CROSS JOIN LATERAL pg_catalog.unnest(CASE WHEN p.source_keys IS NULL THEN ARRAY[p.source_key]
                                                       ELSE p.source_keys END) k(source_key)
             GROUP BY 1, 2, 3
        )
        SELECT k.source_id, k.op, pg_catalog.array_agg(k.source_key ORDER BY k.source_key) AS keys,
               pg_catalog.array_agg(k.attempts ORDER BY k.source_key) AS attempts
          FROM per_key k GROUP BY 1, 2
         -- a whole-source re-sync covers the keys of its source: run it first
         ORDER BY 1, CASE k.op WHEN 'a' THEN 0 WHEN 'n' THEN 1 ELSE 2 END
    LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.source_id OPERATOR(pg_catalog.=) batch.source_id);
        applied := applied OPERATOR(pg_catalog.+) cdp._apply_changes(batch.source_id, batch.op, batch.keys, batch.attempts);
    END LOOP;
    RETURN applied;
END
$$;

CREATE OR REPLACE FUNCTION cdp.retry_quarantine(source_table regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
BEGIN
    WITH gone AS (
        DELETE FROM cdp.quarantine q
         USING cdp.sources s
         WHERE s.source_id OPERATOR(pg_catalog.=) q.source_id
           AND q.reason OPERATOR(pg_catalog.=) ANY (ARRAY['apply_failed', 'resync_failed'])
           AND (source_table IS NULL OR s.source_table OPERATOR(pg_catalog.=) source_table)
        RETURNING q.source_id, q.source_key, q.reason
    )
    INSERT INTO cdp.change_queue (source_id, source_key, op)
    SELECT DISTINCT g.source_id, g.source_key, CASE WHEN g.reason OPERATOR(pg_catalog.=) 'apply_failed' THEN 'k' ELSE 'a' END::"char"
      FROM gone g;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM cdp._wake_worker_at_commit();
    RETURN n;
END
$$;

-- the quality report also counts the rows of erased people a sync left out
CREATE OR REPLACE VIEW cdp.quality_report AS
SELECT s.source_id,
       s.source_table,
       s.channel,
       q.key   AS attribute,
       q.value AS reason,
       pg_catalog.count(*) AS records
  FROM cdp.records r
  JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
 CROSS JOIN LATERAL pg_catalog.jsonb_each_text(r.quality) q
 GROUP BY s.source_id, s.source_table, s.channel, q.key, q.value
 UNION ALL
-- whole rows left out because they hold an erased person's identifier (cdp.forget), as the
-- last whole sync of the source counted them
SELECT s.source_id, s.source_table, s.channel, NULL, 'suppressed', (s.last_sync OPERATOR(pg_catalog.->>) 'suppressed')::pg_catalog.int8
  FROM cdp.sources s
 WHERE (s.last_sync OPERATOR(pg_catalog.->>) 'suppressed')::pg_catalog.int8 OPERATOR(pg_catalog.>) 0
 UNION ALL
-- consent values that could not be read (sql/consent.sql), under the mapping key of the column
SELECT s.source_id, s.source_table, s.channel,
       CASE WHEN k.reason OPERATOR(pg_catalog.=) 'invalid_consent_time' THEN 'consent_at' ELSE k.purpose OPERATOR(pg_catalog.||) '_opt_in' END,
       k.reason, pg_catalog.count(*)
  FROM cdp.consent_statements k
  JOIN cdp.records r ON r.record_id OPERATOR(pg_catalog.=) k.record_id
  JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
 WHERE k.reason IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5;
COMMENT ON VIEW cdp.quality_report IS 'Count of unusable values per source, attribute (or consent column) and reason code; and, with reason suppressed and no attribute, the rows of erased people the last whole sync left out.';

-- the capture trigger reads the transition tables in Rust and queues the keys with one insert
-- planned once per session (it was PL/pgSQL with dynamic SQL and a subtransaction)
CREATE OR REPLACE FUNCTION cdp._capture_changes() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', '_capture_changes_wrapper';
ALTER FUNCTION cdp._capture_changes() RESET ALL;
ALTER FUNCTION cdp._capture_changes() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- descriptions of the tables and functions that had none
COMMENT ON FUNCTION cdp.normalise(text, text) IS 'The normalised matching form of one value of an identity attribute (email, phone, full_name, birth_date, ...), and the reason when it cannot be used.';
COMMENT ON TABLE cdp.hubs IS 'Identifier values shared by implausibly many records (placeholders, a shop''s phone) and anonymous ids seen with several people: excluded from matching.';
COMMENT ON TABLE cdp.match_edges IS 'Accepted record pairs with their evidence (what cdp.explain_match and cdp.explain_profile read).';
COMMENT ON TABLE cdp.near_matches IS 'Pairs the last full cdp.resolve() scored within 4 bits below cdp.match_threshold, with their evidence: the least certain rejections, for cdp.review_queue.';
COMMENT ON TABLE cdp.name_frequencies IS 'Name frequencies of the last full run, for the term-frequency adjustment of cdp.resolve_changes.';
COMMENT ON TABLE cdp.resolve_gone IS 'Records deleted since the last resolve run, with the profile they left: cdp.resolve_changes re-checks those profiles.';
COMMENT ON TABLE cdp.resolve_runs IS 'One row per resolution run (full or incremental): its summary.';
COMMENT ON TABLE cdp.resolve_state IS 'What cdp.resolve last wrote to its derived tables (digest and row count): a run with the same keys or edges leaves them as they are.';
COMMENT ON TABLE cdp.survivorship IS 'Survivorship overrides (cdp.set_survivorship): how the golden value of an attribute is picked; see cdp.survivorship_rules.';
COMMENT ON TABLE cdp.transaction_sources IS 'Registered order tables (cdp.add_transaction_source), attributed to profiles through a customer source''s rows.';
COMMENT ON TABLE cdp.event_sources IS 'Registered behaviour event tables (cdp.add_event_source), attributed to profiles through a customer source''s rows.';
COMMENT ON TABLE cdp.activity_queue IS 'Customer keys whose orders or behaviour events changed (capture triggers); the worker refreshes their profiles'' traits. NULL key: the whole table.';
COMMENT ON TABLE cdp.trait_dirty IS 'Profiles whose traits the worker refreshes next.';
COMMENT ON TABLE cdp.currency_rates IS 'Conversion of order amounts to one reporting currency (amount x rate). Empty: amounts are used as they are and mixed currencies are refused.';
COMMENT ON TABLE cdp.rfm_segment_map IS 'A replacement R x F segment map (empty: the standard map; see cdp.rfm_segments).';
COMMENT ON TABLE cdp.rfm IS 'Recency, frequency and monetary value per profile with their scores, cell and named segment (cdp.compute_rfm).';
COMMENT ON TABLE cdp.clv_model IS 'Lifetime-value fits (BG/NBD and Gamma-Gamma): parameters and diagnostics of each cdp.compute_clv.';
COMMENT ON TABLE cdp.clv IS 'Lifetime value per profile from the latest fit: historical value, P(alive), expected purchases and spend, predicted CLV (cdp.compute_clv).';
COMMENT ON TABLE cdp.profile_traits IS 'Profile traits in long form: built-in, custom (cdp.define_trait) and cluster labels; numbers in value, text in text_value.';
COMMENT ON TABLE cdp.trait_definitions IS 'Custom traits (cdp.define_trait): an aggregate expression over a profile''s orders or behaviour events.';
COMMENT ON FUNCTION cdp.alter_segment(text, text, text, numeric, text) IS 'Change a segment''s rule, description, holdout share or required consent (''none'' removes it); the difference is written as exit and enter events at once. Returns the enters and exits.';
COMMENT ON FUNCTION cdp.drop_segment(text) IS 'Drop a segment: every member exits (reason dropped). Returns the number of exits.';
COMMENT ON TABLE cdp.consumers IS 'Named consumers and the last segment event each acknowledged (cdp.ack_events), for cdp.consumer_lag.';
COMMENT ON TABLE cdp.event_state IS 'Up to which event id retention (cdp.segment_event_retention) has deleted events; no row while nothing was deleted.';
COMMENT ON TABLE cdp.segment_dirty IS 'Profiles whose segments the worker evaluates next (their golden record, RFM, lifetime value or traits changed).';

REVOKE ALL ON FUNCTION cdp._check_records(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._check_records(bigint[]) TO cdp_admin;
REVOKE ALL ON FUNCTION cdp._facts_sql(text), cdp._slot_values(integer[], double precision[]),
       cdp._slot_texts(integer[], text[]), cdp._segment_query_two_clocks(text, text, text), cdp._trait_names(),
       cdp._refresh_facts(boolean), cdp._due_horizon(cdp.segments, bigint[]), cdp._segment_due(cdp.segments) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._facts_sql(text), cdp._slot_values(integer[], double precision[]),
      cdp._slot_texts(integer[], text[]), cdp._segment_query_two_clocks(text, text, text), cdp._trait_names(),
      cdp._refresh_facts(boolean), cdp._due_horizon(cdp.segments, bigint[]), cdp._segment_due(cdp.segments) TO cdp_admin;
GRANT SELECT ON cdp.trait_slots, cdp.facts_dirty, cdp.profile_facts TO cdp_admin;

-- a database with segments gets its facts now; without, the first cdp.define_segment builds them
SELECT cdp._refresh_facts(true) FROM cdp.segments LIMIT 1;

-- analysts: the role cdp_analyst, masked profiles and their rules (sql/privacy.sql)
DO $roles$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('cdp_analyst'), ('cdp_steward'), ('cdp_app')) v(name) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r.name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r.name);
        ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                       WHERE rolname OPERATOR(pg_catalog.=) r.name AND (rolcanlogin OR rolsuper OR rolbypassrls)) THEN
            RAISE EXCEPTION 'role % exists and can log in, is a superuser or bypasses row-level security', r.name
                  USING ERRCODE = '42501', HINT = 'pg_cdp uses it as a NOLOGIN group role: ALTER ROLE ' OPERATOR(pg_catalog.||) r.name OPERATOR(pg_catalog.||) ' NOLOGIN NOSUPERUSER NOBYPASSRLS, or drop it';
        END IF;
    END LOOP;
END
$roles$;
GRANT USAGE ON SCHEMA cdp TO cdp_analyst, cdp_steward, cdp_app;
CREATE FUNCTION cdp._mask_defaults() RETURNS TABLE ("attribute" text, "position" integer, "rule" text)
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_mask_defaults_wrapper';
CREATE FUNCTION cdp._mask_values("values" text[], "rules" text[], "salt" text) RETURNS text[]
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_mask_values_wrapper';
CREATE FUNCTION cdp._set_masking("attribute" text, "rule" text) RETURNS boolean
VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', '_set_masking_wrapper';
ALTER FUNCTION cdp._mask_defaults() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION cdp._mask_values(text[], text[], text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION cdp._set_masking(text, text) SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION cdp._identifier_hashes("values" text[], "salt" text) RETURNS text[]
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_identifier_hashes_wrapper';
CREATE FUNCTION cdp._name_key("first_name" text, "last_name" text, "full_name" text) RETURNS text
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_name_key_wrapper';
ALTER FUNCTION cdp._identifier_hashes(text[], text) SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION cdp._identifier_hash("attribute" text, "value" text, "salt" text) RETURNS text
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_identifier_hash_wrapper';
ALTER FUNCTION cdp._identifier_hash(text, text, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION cdp._name_key(text, text, text) SET search_path = pg_catalog, pg_temp;
-- The database's secret salt of the `hash` masking rule: a random value made at CREATE
-- EXTENSION. Readable by pg_cdp's owner only (not by cdp_admin or cdp_analyst), so a hashed
-- value cannot be checked against a guess. Not dumped: a restored database gets a new salt, so
-- hashed values do not join across a restore.
CREATE TABLE cdp.secrets (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO cdp.secrets (name, value)
VALUES ('mask_salt', pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text);
COMMENT ON TABLE cdp.secrets IS 'Secrets of this database (the salt of the hash masking rule); readable by pg_cdp''s owner only, not dumped.';

-- Masking rules set by cdp.set_masking (an attribute not listed keeps its default).
CREATE TABLE cdp.masking_rules (
    attribute text PRIMARY KEY,
    rule      text NOT NULL CHECK (rule IN ('keep', 'remove', 'initials', 'email', 'last_two_digits', 'year', 'hash'))
);
SELECT pg_catalog.pg_extension_config_dump('cdp.masking_rules', '');
COMMENT ON TABLE cdp.masking_rules IS 'Masking rules chosen with cdp.set_masking; see cdp.masking for the rule in force for every attribute.';

CREATE VIEW cdp.masking AS
SELECT d.attribute, COALESCE(r.rule, d.rule) AS rule, r.rule IS NULL AS is_default
  FROM cdp._mask_defaults() d
  LEFT JOIN cdp.masking_rules r ON r.attribute OPERATOR(pg_catalog.=) d.attribute
 ORDER BY d.position;
COMMENT ON VIEW cdp.masking IS 'The masking rule in force for every identity attribute (what cdp.profiles_masked shows).';

CREATE FUNCTION cdp.set_masking(attribute text, rule text)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('masking.set', attribute, pg_catalog.jsonb_build_object('rule', rule));
    SELECT cdp._set_masking(attribute, rule)
$$;
COMMENT ON FUNCTION cdp.set_masking(text, text) IS
'Choose how cdp.profiles_masked shows an attribute: keep, remove, initials, email (a***@d***.com), last_two_digits, year or hash (a salted hash: countable, not readable); NULL: back to the default.';

-- Every profile as an analyst may see it: names and places as written (the golden record's
-- display values), the rest in their matching form, each masked by its rule; one call per row.
CREATE VIEW cdp.profiles_masked AS
SELECT p.profile_id, p.record_count, p.source_count,
       m.v[1] AS first_name, m.v[2] AS last_name, m.v[3] AS full_name, m.v[4] AS email, m.v[5] AS phone,
       m.v[6] AS birth_date, m.v[7] AS gender, m.v[8] AS street, m.v[9] AS city, m.v[10] AS postcode,
       m.v[11] AS region, m.v[12] AS country, m.v[13] AS national_id, m.v[14] AS external_id,
       m.v[15] AS anonymous_id, p.created_at, p.updated_at
  FROM cdp.profiles p
 CROSS JOIN (SELECT pg_catalog.array_agg(k.rule ORDER BY d.position) AS rules
               FROM cdp._mask_defaults() d JOIN cdp.masking k ON k.attribute OPERATOR(pg_catalog.=) d.attribute) r
 CROSS JOIN (SELECT s.value AS salt FROM cdp.secrets s WHERE s.name OPERATOR(pg_catalog.=) 'mask_salt') s
 CROSS JOIN LATERAL (SELECT cdp._mask_values(ARRAY[
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'first_name', p.first_name),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'last_name', p.last_name),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'full_name', p.full_name),
        p.email, p.phone, pg_catalog.to_char(p.birth_date, 'YYYY-MM-DD'),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'gender', p.gender),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'street', p.street),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'city', p.city),
        p.postcode,
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'region', p.region),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'country', p.country),
        p.national_id, p.external_id, p.anonymous_id], r.rules, s.salt) AS v) m;
COMMENT ON VIEW cdp.profiles_masked IS 'Every unified profile with each attribute masked by its rule (cdp.masking): what cdp_analyst reads instead of cdp.profiles.';

-- cdp.customer_360 as an analyst may see it: the golden record's values from cdp.profiles_masked
-- (the same rules, applied once), everything else as it is.
CREATE VIEW cdp.customer_360_masked AS
SELECT c.profile_id, m.full_name AS name, m.email, m.phone, m.birth_date, m.city, m.country,
       c.record_count, c.source_count,
       c.recency_days, c.frequency, c.monetary_total, c.r_score, c.f_score, c.m_score, c.rfm_cell, c.segment,
       c.orders, c.historical_value, c.p_alive, c.expected_purchases, c.predicted_clv,
       c.traits, c.created_at, c.updated_at,
       c.email_opt_in, c.sms_opt_in, c.push_opt_in, c.profiling_opt_in
  FROM cdp.customer_360 c
  JOIN cdp.profiles_masked m ON m.profile_id OPERATOR(pg_catalog.=) c.profile_id;
COMMENT ON VIEW cdp.customer_360_masked IS 'cdp.customer_360 with the golden record masked as in cdp.profiles_masked (birth_date as text): what cdp_analyst reads instead of cdp.customer_360.';

-- ---------------------------------------------------------------------------------------------
-- Erasure (GDPR Art. 17, KVKK Art. 7): cdp.forget removes a person from every pg_cdp table, and
-- their identifiers, as salted hashes, go to a suppression list so that their rows, if they come
-- again from a source, do not become records. The ledger keeps a salted hash of the profile id
-- and the time, nothing else of the person.
-- ---------------------------------------------------------------------------------------------

-- The salt of the suppression hashes: made by the first erasure (not at CREATE EXTENSION, so a
-- restore brings the database's own salt back and its list keeps matching).
CREATE TABLE cdp.erasure_salt (
    salt text NOT NULL
);
CREATE UNIQUE INDEX erasure_salt_one_row ON cdp.erasure_salt ((true));
SELECT pg_catalog.pg_extension_config_dump('cdp.erasure_salt', '');
COMMENT ON TABLE cdp.erasure_salt IS 'The salt of the suppression list''s hashes (one row, made by the first cdp.forget); dumped with the list.';

CREATE TABLE cdp.erasures (
    erasure_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erased_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    session_role        name NOT NULL DEFAULT SESSION_USER,
    acting_role         name NOT NULL,
    profile_hash        text NOT NULL,        -- salted hash of the erased profile id
    records             integer NOT NULL,
    identifiers         integer NOT NULL,     -- identifier hashes added to cdp.suppressions
    source_rows_deleted integer NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('cdp.erasures', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.erasures_erasure_id_seq', '');
COMMENT ON TABLE cdp.erasures IS 'The erasure ledger: one row per cdp.forget, with a salted hash of the profile id, who and when, and counts; nothing else of the person.';

CREATE TABLE cdp.suppressions (
    key        text PRIMARY KEY,              -- attribute ':' salted hash of its normalised value
    erasure_id bigint NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('cdp.suppressions', '');
COMMENT ON TABLE cdp.suppressions IS 'Identifiers of erased people (e-mail, phone, national, external and anonymous ids) as salted hashes: a source row holding one of them does not become a record.';

-- The suppression keys of a record's identifiers (cdp._identifier_hashes over its values).
CREATE FUNCTION cdp._record_hashes(r cdp.records, salt text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._identifier_hashes(ARRAY[r.first_name, r.last_name, r.full_name, r.email, r.phone,
               pg_catalog.to_char(r.birth_date, 'YYYY-MM-DD'), r.gender, r.street, r.city, r.postcode, r.region,
               r.country, r.national_id, r.external_id, r.anonymous_id], salt)
$$;

-- The source rows of a profile's records, for cdp.forget to delete with the caller's rights:
-- the table, the key column (by number: its current name) and its type.
CREATE FUNCTION cdp._forget_source_rows(profile_id bigint)
RETURNS TABLE (source_table regclass, key_column name, key_type text, source_key text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.source_table, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), r.source_key
      FROM cdp.records r
      JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) s.source_table AND a.attnum OPERATOR(pg_catalog.=) s.key_attnum
     WHERE r.profile_id OPERATOR(pg_catalog.=) _forget_source_rows.profile_id
     ORDER BY 1, 4
$$;

-- Everything pg_cdp holds of one profile, removed; its identifiers suppressed; the ledger row.
CREATE FUNCTION cdp._forget(profile_id bigint, source_rows_deleted integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    pid      bigint := _forget.profile_id;
    salt     text;
    eid      bigint;
    n_rec    integer;
    n_ids    integer;
    n_events integer := 0;
    seg      record;
BEGIN
    -- one resolve run at a time: none may be writing this profile meanwhile
    PERFORM pg_catalog.pg_advisory_xact_lock(868476083206319222);  -- RESOLVE_LOCK_KEY, src/api/resolve/mod.rs
    IF NOT EXISTS (SELECT 1 FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) pid)
       AND NOT EXISTS (SELECT 1 FROM cdp.records r WHERE r.profile_id OPERATOR(pg_catalog.=) pid) THEN
        RAISE EXCEPTION 'profile % does not exist', pid USING ERRCODE = '42704';
    END IF;
    INSERT INTO cdp.erasure_salt (salt)
    SELECT pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text
     WHERE NOT EXISTS (SELECT 1 FROM cdp.erasure_salt);
    SELECT e.salt INTO salt FROM cdp.erasure_salt e;

    CREATE TEMP TABLE IF NOT EXISTS cdp_forget_records (record_id bigint, source_id integer, source_key text,
                                                         name_key text, person text, ids text[]) ON COMMIT DROP;
    TRUNCATE cdp_forget_records;
    INSERT INTO cdp_forget_records
    SELECT r.record_id, r.source_id, r.source_key, cdp._name_key(r.first_name, r.last_name, r.full_name),
           COALESCE(r.birth_date::pg_catalog.text, r.record_id::pg_catalog.text),
           cdp._record_hashes(r, salt)
      FROM cdp.records r WHERE r.profile_id OPERATOR(pg_catalog.=) pid;
    GET DIAGNOSTICS n_rec = ROW_COUNT;

    INSERT INTO cdp.erasures (acting_role, profile_hash, records, identifiers, source_rows_deleted)
    VALUES (cdp._acting_role(), 'h:' OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
                pg_catalog.convert_to(salt OPERATOR(pg_catalog.||) '|profile|' OPERATOR(pg_catalog.||) pid::pg_catalog.text, 'UTF8')), 'hex'), 16),
            n_rec, 0, COALESCE(_forget.source_rows_deleted, 0))
    RETURNING erasure_id INTO eid;
    INSERT INTO cdp.suppressions (key, erasure_id)
    SELECT DISTINCT k, eid FROM cdp_forget_records f, pg_catalog.unnest(f.ids) k
    ON CONFLICT (key) DO NOTHING;
    GET DIAGNOSTICS n_ids = ROW_COUNT;
    UPDATE cdp.erasures e SET identifiers = n_ids WHERE e.erasure_id OPERATOR(pg_catalog.=) eid;

    -- segment consumers learn of it from an exit (reason forgotten); the profile's earlier
    -- events go
    DELETE FROM cdp.segment_events e WHERE e.profile_id OPERATOR(pg_catalog.=) pid OR e.merged_into OPERATOR(pg_catalog.=) pid;
    FOR seg IN SELECT m.segment AS name, m.holdout FROM cdp.segment_members m
                WHERE m.profile_id OPERATOR(pg_catalog.=) pid ORDER BY m.segment LOOP
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, holdout)
        VALUES (pg_catalog.nextval('cdp.segment_event_id_seq'), seg.name, pid, 'exit', 'forgotten', seg.holdout);
        PERFORM cdp._notify_events(seg.name, pg_catalog.currval('cdp.segment_event_id_seq'), pg_catalog.currval('cdp.segment_event_id_seq'));
        n_events := n_events OPERATOR(pg_catalog.+) 1;
    END LOOP;
    DELETE FROM cdp.segment_members m WHERE m.profile_id OPERATOR(pg_catalog.=) pid;

    -- the records and everything derived from them
    DELETE FROM cdp.record_keys k USING cdp_forget_records f WHERE k.record_id OPERATOR(pg_catalog.=) f.record_id;
    DELETE FROM cdp.match_edges e USING cdp_forget_records f
     WHERE e.record_a OPERATOR(pg_catalog.=) f.record_id OR e.record_b OPERATOR(pg_catalog.=) f.record_id;
    DELETE FROM cdp.near_matches e USING cdp_forget_records f
     WHERE e.record_a OPERATOR(pg_catalog.=) f.record_id OR e.record_b OPERATOR(pg_catalog.=) f.record_id;
    DELETE FROM cdp.manual_links l USING cdp_forget_records f
     WHERE (l.source_a OPERATOR(pg_catalog.=) f.source_id AND l.key_a OPERATOR(pg_catalog.=) f.source_key)
        OR (l.source_b OPERATOR(pg_catalog.=) f.source_id AND l.key_b OPERATOR(pg_catalog.=) f.source_key);
    DELETE FROM cdp.quarantine q USING cdp_forget_records f
     WHERE q.source_id OPERATOR(pg_catalog.=) f.source_id AND q.source_key OPERATOR(pg_catalog.=) f.source_key;
    DELETE FROM cdp.change_queue q USING cdp_forget_records f
     WHERE q.source_id OPERATOR(pg_catalog.=) f.source_id AND q.source_key OPERATOR(pg_catalog.=) f.source_key;
    UPDATE cdp.change_queue q SET source_keys = ARRAY(SELECT k FROM pg_catalog.unnest(q.source_keys) k
                                                       WHERE NOT EXISTS (SELECT 1 FROM cdp_forget_records f
                                                                          WHERE f.source_id OPERATOR(pg_catalog.=) q.source_id
                                                                            AND f.source_key OPERATOR(pg_catalog.=) k))
     WHERE q.source_keys IS NOT NULL
       AND EXISTS (SELECT 1 FROM cdp_forget_records f WHERE f.source_id OPERATOR(pg_catalog.=) q.source_id
                      AND f.source_key OPERATOR(pg_catalog.=) ANY (q.source_keys));
    DELETE FROM cdp.records r USING cdp_forget_records f WHERE r.record_id OPERATOR(pg_catalog.=) f.record_id;
    -- name frequencies: the person's names counted once less
    UPDATE cdp.name_frequencies n SET records = n.records OPERATOR(pg_catalog.-) d.people
      FROM (SELECT f.name_key, pg_catalog.count(DISTINCT f.person) AS people FROM cdp_forget_records f
             WHERE f.name_key OPERATOR(pg_catalog.<>) '' GROUP BY 1) d
     WHERE n.name_key OPERATOR(pg_catalog.=) d.name_key;
    DELETE FROM cdp.name_frequencies n WHERE n.records OPERATOR(pg_catalog.<) 2 AND n.name_key OPERATOR(pg_catalog.<>) '';
    -- the profile
    DELETE FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.profile_lineage l WHERE l.old_profile_id OPERATOR(pg_catalog.=) pid OR l.new_profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.resolve_gone g WHERE g.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.profile_traits t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.rfm t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.clv t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.profile_facts t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.facts_dirty t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.trait_dirty t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.segment_dirty t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.segment_due t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    PERFORM pg_catalog.pg_notify('cdp_profiles', pg_catalog.json_build_object('event', 'forgotten', 'profile_id', pid,
                                                                               'erasure_id', eid)::pg_catalog.text);
    -- the audit row (written here, where the erasure is, so no path erases without one) holds
    -- the ledger's erasure id and counts, never the profile id
    RETURN cdp._audit('erasure.forget', NULL, pg_catalog.jsonb_build_object('erasure_id', eid, 'records', n_rec, 'identifiers_suppressed', n_ids,
                                         'source_rows_deleted', COALESCE(_forget.source_rows_deleted, 0), 'segment_exits', n_events));
END
$$;

CREATE FUNCTION cdp.forget(profile_id bigint, delete_source_rows boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r record;
    n integer := 0;
    k integer;
BEGIN
    IF profile_id IS NULL THEN
        RAISE EXCEPTION 'profile_id must be given' USING ERRCODE = '22004';
    END IF;
    IF delete_source_rows THEN
        -- with the caller's own rights: deleting a row of an application's table needs DELETE on it
        FOR r IN SELECT * FROM cdp._forget_source_rows(profile_id) LOOP
            EXECUTE pg_catalog.format('DELETE FROM %s WHERE %I OPERATOR(pg_catalog.=) $1::%s', r.source_table, r.key_column, r.key_type)
              USING r.source_key;
            GET DIAGNOSTICS k = ROW_COUNT;
            n := n OPERATOR(pg_catalog.+) k;
        END LOOP;
    END IF;
    RETURN cdp._forget(profile_id, n);
END
$$;
COMMENT ON FUNCTION cdp.forget(bigint, boolean) IS
'Erase a person (GDPR Art. 17, KVKK Art. 7): remove the profile and everything pg_cdp holds of it, put its identifiers (salted hashes) on the suppression list so their rows do not come back, write the ledger row; with delete_source_rows, also delete the source rows, with the caller''s rights. Returns counts.';

-- An identifier value as the records hold it (normalised), for cdp.forget_by and
-- cdp.unsuppress; 22023 for another attribute or a value that cannot be used.
CREATE FUNCTION cdp._identifier_value(attribute text, value text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v text;
BEGIN
    IF attribute IS NULL OR attribute OPERATOR(pg_catalog.<>) ALL (ARRAY['email', 'phone', 'national_id', 'external_id', 'anonymous_id']) THEN
        RAISE EXCEPTION 'an identifier is needed: email, phone, national_id, external_id or anonymous_id, not %', COALESCE(attribute, 'NULL')
              USING ERRCODE = '22023', HINT = 'to erase a person found otherwise, call cdp.forget with the profile id';
    END IF;
    SELECT x.value INTO v FROM cdp.normalise(attribute, value) x;
    IF v IS NULL THEN
        RAISE EXCEPTION 'the value is not a usable %', attribute USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;

-- Erase everyone holding an identifier value (as given: normalised first, as the records hold it).
CREATE FUNCTION cdp.forget_by(attribute text, value text, delete_source_rows boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v    text;
    pid  bigint;
    outs jsonb := '[]'::jsonb;
BEGIN
    v := cdp._identifier_value(attribute, value);
    FOR pid IN EXECUTE pg_catalog.format(
        'SELECT DISTINCT r.profile_id FROM cdp.records r WHERE r.%I OPERATOR(pg_catalog.=) $1 AND r.profile_id IS NOT NULL ORDER BY 1',
        attribute) USING v LOOP
        outs := outs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(cdp.forget(pid, delete_source_rows));
    END LOOP;
    -- the attribute only: the value is the person's
    PERFORM cdp._audit('erasure.forget_by', attribute, pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs)));
    RETURN pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs), 'erasures', outs);
END
$$;
COMMENT ON FUNCTION cdp.forget_by(text, text, boolean) IS
'Erase every profile holding an identifier value (email, phone, national_id, external_id, anonymous_id; normalised as the records hold it) with cdp.forget; returns how many and their erasures.';

-- The erasure ledger to keep outside the database: after restoring a backup taken before some
-- erasures, cdp.reapply_erasures erases those people again. It holds the salt of the hashes
-- (a restored database older than the first erasure has none): keep it like a backup.
CREATE FUNCTION cdp.export_erasures()
RETURNS jsonb
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'salt', (SELECT e.salt FROM cdp.erasure_salt e),
        'erasures', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.erasure_id) FROM cdp.erasures x), '[]'::jsonb),
        'suppressions', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', s.key, 'erasure_id', s.erasure_id) ORDER BY s.key)
                                    FROM cdp.suppressions s), '[]'::jsonb))
$$;
COMMENT ON FUNCTION cdp.export_erasures() IS
'The erasure ledger (the erasures, the suppressed identifier hashes and their salt) as one jsonb, to keep outside the database for cdp.reapply_erasures after a restore. Holds the salt: keep it like a backup.';

-- Bring a ledger's erasures into this database (after a restore): its salt, ledger rows and
-- suppressions, then every profile holding a suppressed identifier is forgotten.
CREATE FUNCTION cdp._reapply_ledger(ledger jsonb)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ledger_salt text := ledger OPERATOR(pg_catalog.->>) 'salt';
BEGIN
    IF ledger_salt IS NULL THEN
        RETURN;  -- no erasure in the ledger
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.erasure_salt e WHERE e.salt OPERATOR(pg_catalog.<>) ledger_salt) THEN
        RAISE EXCEPTION 'the ledger was hashed with another salt: it comes from another database' USING ERRCODE = '22023';
    END IF;
    INSERT INTO cdp.erasure_salt (salt) SELECT ledger_salt WHERE NOT EXISTS (SELECT 1 FROM cdp.erasure_salt);
    INSERT INTO cdp.erasures OVERRIDING SYSTEM VALUE
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::cdp.erasures, ledger OPERATOR(pg_catalog.->) 'erasures')
    ON CONFLICT (erasure_id) DO NOTHING;
    PERFORM pg_catalog.setval('cdp.erasures_erasure_id_seq', GREATEST((SELECT pg_catalog.max(e.erasure_id) FROM cdp.erasures e), 1));
    INSERT INTO cdp.suppressions (key, erasure_id)
    SELECT x.key, x.erasure_id FROM pg_catalog.jsonb_to_recordset(ledger OPERATOR(pg_catalog.->) 'suppressions') AS x(key text, erasure_id bigint)
    ON CONFLICT (key) DO NOTHING;
    RETURN QUERY
    SELECT DISTINCT r.profile_id FROM cdp.records r
     WHERE r.profile_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_catalog.unnest(cdp._record_hashes(r, ledger_salt)) h(k)
                    JOIN cdp.suppressions s ON s.key OPERATOR(pg_catalog.=) h.k)
     ORDER BY 1;
END
$$;

CREATE FUNCTION cdp.reapply_erasures(ledger jsonb, delete_source_rows boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    pid  bigint;
    outs jsonb := '[]'::jsonb;
BEGIN
    IF ledger IS NULL THEN
        RAISE EXCEPTION 'ledger must be given (the output of cdp.export_erasures)' USING ERRCODE = '22004';
    END IF;
    FOR pid IN SELECT * FROM cdp._reapply_ledger(ledger) LOOP
        outs := outs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(cdp.forget(pid, delete_source_rows));
    END LOOP;
    PERFORM cdp._audit('erasure.reapply', NULL, pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs)));
    RETURN pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs), 'erasures', outs);
END
$$;
COMMENT ON FUNCTION cdp.reapply_erasures(jsonb, boolean) IS
'After restoring a backup taken before some erasures: take the ledger kept with cdp.export_erasures, and forget every profile holding one of its suppressed identifiers (with delete_source_rows, their source rows too, with the caller''s rights).';

-- A person who comes back (a new consent, a new contract): one identifier off the suppression
-- list; their rows become records at the next sync of their sources.
CREATE FUNCTION cdp.unsuppress(attribute text, value text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v    text;
    salt text;
    k    text;
    n    integer;
BEGIN
    v := cdp._identifier_value(attribute, value);
    SELECT e.salt INTO salt FROM cdp.erasure_salt e;
    IF salt IS NULL THEN
        RETURN false;  -- nobody was ever erased
    END IF;
    k := cdp._identifier_hash(attribute, v, salt);
    DELETE FROM cdp.suppressions s WHERE s.key OPERATOR(pg_catalog.=) k;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM cdp._audit('erasure.unsuppress', attribute, pg_catalog.jsonb_build_object('was_suppressed', n OPERATOR(pg_catalog.>) 0));
    RETURN n OPERATOR(pg_catalog.>) 0;
END
$$;
COMMENT ON FUNCTION cdp.unsuppress(text, text) IS
'Take one identifier value (normalised as records hold it) off the suppression list, for a person who comes back: their rows become records at the next sync of their sources. Returns whether it was on the list; the ledger keeps its rows.';

REVOKE ALL ON cdp.secrets, cdp.masking_rules, cdp.masking, cdp.profiles_masked, cdp.erasure_salt, cdp.erasures,
       cdp.suppressions FROM PUBLIC;
REVOKE ALL ON SEQUENCE cdp.erasures_erasure_id_seq FROM PUBLIC;
GRANT SELECT ON cdp.masking_rules, cdp.masking, cdp.profiles_masked, cdp.erasures, cdp.suppressions TO cdp_admin;
REVOKE ALL ON FUNCTION cdp._mask_defaults(), cdp._mask_values(text[], text[], text), cdp._set_masking(text, text),
       cdp.set_masking(text, text), cdp._identifier_hashes(text[], text), cdp._name_key(text, text, text),
       cdp._forget_source_rows(bigint), cdp._forget(bigint, integer), cdp.forget(bigint, boolean),
       cdp._record_hashes(cdp.records, text), cdp.forget_by(text, text, boolean), cdp.export_erasures(), cdp._reapply_ledger(jsonb),
       cdp.reapply_erasures(jsonb, boolean), cdp.unsuppress(text, text), cdp._identifier_value(text, text), cdp._identifier_hash(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._mask_defaults(), cdp._mask_values(text[], text[], text), cdp._set_masking(text, text),
      cdp.set_masking(text, text), cdp._identifier_hashes(text[], text), cdp._name_key(text, text, text),
      cdp._forget_source_rows(bigint), cdp._forget(bigint, integer), cdp.forget(bigint, boolean),
      cdp._record_hashes(cdp.records, text), cdp.forget_by(text, text, boolean), cdp.export_erasures(), cdp._reapply_ledger(jsonb),
      cdp.reapply_erasures(jsonb, boolean), cdp.unsuppress(text, text), cdp._identifier_value(text, text), cdp._identifier_hash(text, text, text) TO cdp_admin;
GRANT SELECT ON cdp.profiles_masked, cdp.masking, cdp.rfm, cdp.clv, cdp.profile_traits, cdp.segments,
      cdp.segment_members TO cdp_analyst;
GRANT EXECUTE ON FUNCTION cdp._mask_values(text[], text[], text), cdp._mask_defaults() TO cdp_analyst;
GRANT EXECUTE ON FUNCTION cdp.review_queue(integer), cdp.force_link(bigint, bigint), cdp.cannot_link(bigint, bigint),
      cdp.force_split(bigint), cdp._mask_values(text[], text[], text), cdp._mask_defaults() TO cdp_steward;
GRANT SELECT ON cdp.profiles_masked, cdp.masking TO cdp_steward;
GRANT EXECUTE ON FUNCTION cdp.segment_events_since(bigint, integer), cdp.ack_events(text, bigint) TO cdp_app;
GRANT SELECT ON cdp.segments, cdp.segment_members, cdp.consumer_lag TO cdp_app;

COMMENT ON FUNCTION cdp.define_segment(text, text, text, numeric, text) IS
'Define a segment: a boolean rule over the columns of cdp.customer_360 and the traits; requires_consent (email, sms or push) keeps to the profiles that granted it. Filled at once (one enter event per member); kept current by the worker. Returns the segment id.';

-- ---------------------------------------------------------------------------------------------
-- Comparison levels added in 0.2.0: name one_part_other_missing and one_part_other_different
-- before "different", birth date day_month before same_year, address street_other_number after
-- street_postcode. The accepted pairs stored by 0.1.0 are renumbered to this version's positions
-- (levels[1] is the name's, levels[4] the birth date's, levels[8] the address's;
-- cdp.match_fields() names them). 0.1.0's models carry no level names: pg_cdp reads them
-- with 0.1.0's levels and gives the new ones the default model's weights until
-- cdp.resolve(reestimate => true) fits a new model.
-- ---------------------------------------------------------------------------------------------
UPDATE cdp.match_edges
   SET levels[1] = CASE levels[1] WHEN 4 THEN 6 ELSE levels[1] END,
       levels[4] = CASE levels[4] WHEN 2 THEN 3 WHEN 3 THEN 4 ELSE levels[4] END,
       levels[8] = CASE levels[8] WHEN 1 THEN 2 WHEN 2 THEN 3 WHEN 3 THEN 4 ELSE levels[8] END
 WHERE levels[1] = 4 OR levels[4] IN (2, 3) OR levels[8] IN (1, 2, 3);

-- privileges over every object, new ones included (sql/privileges.sql, as a fresh install sets them)

-- ---------------------------------------------------------------------------------------------
-- Privileges. Nothing in cdp is PUBLIC. Every function runs with a fixed search_path (the Rust
-- ones included). cdp_admin may call every function and read every table; it writes no table
-- pg_cdp trusts (sources, change queue, records, the resolution tables, steward decisions, trait
-- definitions) except through the functions, which do so as pg_cdp's owner. It does write the
-- tables that only the caller's own value computations read.
-- ---------------------------------------------------------------------------------------------
ALTER FUNCTION cdp._normalise_row(text[]) RESET search_path;
-- One exception: cdp._normalise_row, which the sync statements call once per source row. It
-- runs no SQL and is not SECURITY DEFINER, so no search_path can change what it does, and a
-- SET clause costs a settings save and restore per call (0.6 s of a 1M-row first sync).
DO $privileges$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cdp'::regnamespace
                AND p.oid OPERATOR(pg_catalog.<>) 'cdp._normalise_row(text[])'::pg_catalog.regprocedure
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f.sig);
    END LOOP;
END
$privileges$;
REVOKE ALL ON ALL TABLES IN SCHEMA cdp FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA cdp FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cdp FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdp TO cdp_admin;
REVOKE EXECUTE ON FUNCTION cdp._capture_changes(), cdp._capture_activity(), cdp._on_sql_drop(), cdp._on_ddl_end(),
       cdp._stage_as_owner(oid, text, text, text[]) FROM cdp_admin;
-- the capture triggers run as cdp_capture
GRANT EXECUTE ON FUNCTION cdp._changed_keys_sql(text, name, boolean) TO cdp_capture;
GRANT EXECUTE ON FUNCTION cdp._wake_worker() TO cdp_capture;
GRANT SELECT ON ALL TABLES IN SCHEMA cdp TO cdp_admin;
-- the salt of the hash masking rule: pg_cdp's owner only (an admin who read it could check a
-- hashed value against a guess; admins read the unmasked data anyway, analysts must not)
REVOKE SELECT ON cdp.secrets, cdp.erasure_salt FROM cdp_admin;
-- analysts: masked profiles and the value tables, nothing else
GRANT SELECT ON cdp.profiles_masked, cdp.customer_360_masked, cdp.masking, cdp.rfm, cdp.clv, cdp.profile_traits,
      cdp.segments, cdp.segment_members, cdp.consent, cdp.profile_consent TO cdp_analyst;
GRANT EXECUTE ON FUNCTION cdp._mask_values(text[], text[], text), cdp._mask_defaults() TO cdp_analyst;
-- stewards: the review queue and their decisions, masked profiles
GRANT EXECUTE ON FUNCTION cdp.review_queue(integer), cdp.force_link(bigint, bigint), cdp.cannot_link(bigint, bigint),
      cdp.force_split(bigint), cdp._mask_values(text[], text[], text), cdp._mask_defaults() TO cdp_steward;
GRANT SELECT ON cdp.profiles_masked, cdp.masking TO cdp_steward;
-- applications: segment events and memberships by profile id, nothing personal
GRANT EXECUTE ON FUNCTION cdp.segment_events_since(bigint, integer), cdp.ack_events(text, bigint) TO cdp_app;
-- and the consent in force, by profile id, so no one is contacted without it
GRANT SELECT ON cdp.segments, cdp.segment_members, cdp.consumer_lag, cdp.consent, cdp.profile_consent TO cdp_app;
GRANT INSERT, UPDATE, DELETE ON cdp.rfm, cdp.clv, cdp.clv_model, cdp.profile_traits,
      cdp.currency_rates, cdp.rfm_segment_map TO cdp_admin;
