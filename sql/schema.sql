-- pg_cdp schema: the tables every part shares.
-- Everything lives in schema cdp (the control file fixes it); names are schema-qualified throughout
-- so nothing depends on the caller's search_path.

-- Schema squatting: CREATE EXTENSION accepts an existing schema cdp. Whoever owns it, or may
-- create in it, could plant an overload (a function, an operator, a type) that privileged pg_cdp
-- code would then resolve and run. Only a schema the installing role owns, that nobody else may
-- create in, and that holds nothing yet is accepted.
DO $squat$
DECLARE
    ns     pg_catalog.oid := 'cdp'::pg_catalog.regnamespace::pg_catalog.oid;
    owner  pg_catalog.name;
    others pg_catalog.text;
BEGIN
    SELECT r.rolname INTO owner FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.oid OPERATOR(pg_catalog.=) ns;
    IF owner OPERATOR(pg_catalog.<>) CURRENT_USER THEN
        RAISE EXCEPTION 'schema cdp already exists and is owned by %, not by the installing role %', owner, CURRENT_USER
              USING ERRCODE = '42501',
                    HINT = 'pg_cdp creates its own schema cdp: drop or rename the existing one, then CREATE EXTENSION pg_cdp';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT a.grantee::pg_catalog.regrole::pg_catalog.text, ', ') INTO others
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) ns AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner;
    IF others IS NOT NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
                                      WHERE n.oid OPERATOR(pg_catalog.=) ns AND a.grantee OPERATOR(pg_catalog.=) 0
                                        AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE') THEN
        RAISE EXCEPTION 'schema cdp already exists and others may create objects in it (%)', COALESCE(others, 'PUBLIC')
              USING ERRCODE = '42501', HINT = 'drop the existing schema cdp, then CREATE EXTENSION pg_cdp';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) ns) THEN
        RAISE EXCEPTION 'schema cdp already exists and is not empty'
              USING ERRCODE = '42501', HINT = 'pg_cdp needs a schema of its own: drop or rename the existing schema cdp';
    END IF;
END
$squat$;

-- Roles (cluster-wide, so shared by every database with pg_cdp; kept when the extension is
-- dropped). Both are NOLOGIN groups:
--   cdp_capture  owns the capture trigger function and may only append to cdp.change_queue: the
--                trigger that runs in the applications' own transactions has no other right.
--   cdp_admin    may call the API (register and sync sources, resolve, steward decisions, value
--                computations) and read the cdp tables; it cannot write them except through the
--                API. GRANT cdp_admin TO a login role to let it administer pg_cdp.
-- An existing role of either name is reused only when it cannot log in and is no superuser; for
-- cdp_capture also only when no role is a member of it (a member could act as the trigger).
DO $roles$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('cdp_capture'), ('cdp_admin')) v(name) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r.name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r.name);
        ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                       WHERE rolname OPERATOR(pg_catalog.=) r.name AND (rolcanlogin OR rolsuper OR rolbypassrls)) THEN
            RAISE EXCEPTION 'role % exists and can log in, is a superuser or bypasses row-level security', r.name
                  USING ERRCODE = '42501', HINT = 'pg_cdp uses it as a NOLOGIN group role: ALTER ROLE ' OPERATOR(pg_catalog.||) r.name OPERATOR(pg_catalog.||) ' NOLOGIN NOSUPERUSER NOBYPASSRLS, or drop it';
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) 'cdp_capture'::pg_catalog.regrole::pg_catalog.oid) THEN
        RAISE EXCEPTION 'role cdp_capture has members' USING ERRCODE = '42501',
              HINT = 'the capture role must have no members: REVOKE cdp_capture FROM them';
    END IF;
END
$roles$;
GRANT USAGE ON SCHEMA cdp TO cdp_capture, cdp_admin;

-- Registered sources: one row per user table that feeds pg_cdp.
CREATE TABLE cdp.sources (
    source_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table   regclass NOT NULL UNIQUE,
    key_column     name NOT NULL,
    mapping        jsonb NOT NULL,
    channel        text,
    priority       integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_synced_at timestamptz,
    last_sync      jsonb,
    -- the role that registered the source: every sync reads the table only while this role may
    -- (SELECT on the key and mapped columns, no row-level security hiding rows from it)
    registered_by  regrole NOT NULL,
    -- columns by number, so a renamed column is followed (key_column and mapping are refreshed
    -- from these at every sync)
    key_attnum     smallint NOT NULL,
    mapping_attnums jsonb NOT NULL
);
COMMENT ON TABLE cdp.sources IS 'Tables registered with cdp.add_source: key column, attribute mapping, channel, priority.';
COMMENT ON COLUMN cdp.sources.mapping IS 'Identity attribute -> source column, e.g. {"email":"mail","phone":"gsm"}.';
COMMENT ON COLUMN cdp.sources.last_sync IS 'Counts from the last cdp.sync_source: inserted, updated, unchanged, deleted, quarantined, seconds.';

-- The identity attributes (Attr::ALL in src/normalise), one definition for every table that
-- holds them: cdp.records (normalised values) and cdp.profiles (golden values).
CREATE TYPE cdp.identity_attributes AS (
    first_name    text,
    last_name     text,
    full_name     text,
    email         text,
    phone         text,
    birth_date    date,
    gender        text,
    street        text,
    city          text,
    postcode      text,
    region        text,
    country       text,
    national_id   text,
    external_id   text,
    anonymous_id  text
);
COMMENT ON TYPE cdp.identity_attributes IS 'The identity attributes, in their normalised (matching) form: the columns of cdp.records and cdp.profiles.';

-- One row per source row: normalised attributes for matching, originals for display and audit.
CREATE TABLE cdp.records (
    record_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id     integer NOT NULL,   -- no FK: its per-row check would dominate bulk syncs; see cdp._source_deleted
    source_key    text NOT NULL,
    LIKE cdp.identity_attributes,
    original      jsonb NOT NULL,
    quality       jsonb NOT NULL DEFAULT '{}'::jsonb,
    profile_id    bigint,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- set by sync when the values of a record change; cleared by the resolve run that matched
    -- this version of it (cdp.resolve, cdp.resolve_changes). A new record is pending by having no
    -- profile_id yet: a flag that a first run would clear on every record would rule out its
    -- HOT updates (records_pending_idx depends on it).
    resolve_pending boolean NOT NULL DEFAULT false,
    CONSTRAINT records_source_key_unique UNIQUE (source_id, source_key)
) WITH (fillfactor = 50);
-- Half of every page is left free: cdp.resolve sets profile_id on every record on its first run
-- (and on many after a re-estimated model). When that many records move it drops the
-- profile_id index for the update, and a new row version that fits on its own page is then a
-- HOT update (no index entries): 2.7x faster at 1M records than at fillfactor 90, where only
-- 11% of the updates found room. The table ends at the same size: at 90 the old versions fill it.

CREATE INDEX records_profile_id_idx ON cdp.records (profile_id);
-- changed records cdp.resolve_changes has still to match (new ones: profile_id IS NULL, above)
CREATE INDEX records_pending_idx ON cdp.records (record_id) WHERE resolve_pending;
COMMENT ON TABLE cdp.records IS 'One row per source row: normalised identity attributes (matching forms), the original values, and quality flags.';
COMMENT ON COLUMN cdp.records.original IS 'Raw values as read from the source, keyed by attribute name.';
COMMENT ON COLUMN cdp.records.quality IS 'Attribute -> reason code for each value that could not be used (kept in original, NULL in the normalised column).';

-- Unregistering a source (cdp.drop_source, or its table dropped) removes what was derived from it.
CREATE FUNCTION cdp._source_deleted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM cdp.records r WHERE r.source_id OPERATOR(pg_catalog.=) OLD.source_id;
    DELETE FROM cdp.change_queue q WHERE q.source_id OPERATOR(pg_catalog.=) OLD.source_id;
    -- orders attributed through this source's rows can no longer reach a profile
    DELETE FROM cdp.transaction_sources t WHERE t.customer_source_id OPERATOR(pg_catalog.=) OLD.source_id;
    DELETE FROM cdp.event_sources e WHERE e.customer_source_id OPERATOR(pg_catalog.=) OLD.source_id;
    DELETE FROM cdp.activity_queue q WHERE q.customer_source_id OPERATOR(pg_catalog.=) OLD.source_id;
    DELETE FROM cdp.manual_links l
     WHERE l.source_a OPERATOR(pg_catalog.=) OLD.source_id OR l.source_b OPERATOR(pg_catalog.=) OLD.source_id;
    RETURN OLD;
END
$$;
CREATE TRIGGER source_deleted AFTER DELETE ON cdp.sources
    FOR EACH ROW EXECUTE FUNCTION cdp._source_deleted();

-- Source rows that cannot become records at all (e.g. a NULL key) are kept here with the reason.
-- Only the key and the mapped attributes are kept (never the whole row, never an error message,
-- which can quote values); rows go when their source row is synced or deleted, and after
-- cdp.quarantine_retention.
CREATE TABLE cdp.quarantine (
    quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id     integer REFERENCES cdp.sources (source_id) ON DELETE CASCADE,
    source_key    text,
    reason        text NOT NULL,       -- null_key | apply_failed | resync_failed
    detail        text,                -- fixed text and the SQLSTATE only
    attributes    jsonb,               -- the mapped attributes' raw values (null_key rows)
    sqlstate      text,
    attempts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX quarantine_source_idx ON cdp.quarantine (source_id, reason);
CREATE INDEX quarantine_key_idx ON cdp.quarantine (source_id, source_key);
CREATE INDEX quarantine_created_idx ON cdp.quarantine (created_at);
COMMENT ON TABLE cdp.quarantine IS 'Source rows that could not be used, with the reason; never silently dropped. Holds the key and mapped attributes only.';

-- Per attribute and reason: how many values could not be used.
CREATE VIEW cdp.quality_report AS
SELECT s.source_id,
       s.source_table,
       s.channel,
       q.key   AS attribute,
       q.value AS reason,
       pg_catalog.count(*) AS records
  FROM cdp.records r
  JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
 CROSS JOIN LATERAL pg_catalog.jsonb_each_text(r.quality) q
 GROUP BY s.source_id, s.source_table, s.channel, q.key, q.value;
COMMENT ON VIEW cdp.quality_report IS 'Count of unusable values per source, attribute and reason code.';

-- Per source: what is registered and how much of it is synced.
CREATE VIEW cdp.source_summary AS
SELECT s.source_id,
       s.source_table,
       s.channel,
       s.priority,
       (SELECT pg_catalog.count(*) FROM cdp.records r
         WHERE r.source_id OPERATOR(pg_catalog.=) s.source_id) AS records,
       (SELECT pg_catalog.count(*) FROM cdp.records r
         WHERE r.source_id OPERATOR(pg_catalog.=) s.source_id
           AND r.quality OPERATOR(pg_catalog.<>) '{}'::jsonb) AS records_with_issues,
       (SELECT pg_catalog.count(*) FROM cdp.quarantine q
         WHERE q.source_id OPERATOR(pg_catalog.=) s.source_id) AS quarantined,
       s.last_synced_at
  FROM cdp.sources s;
COMMENT ON VIEW cdp.source_summary IS 'Registered sources with record, issue and quarantine counts.';

-- pg_dump keeps the configuration (what is registered); records are rebuilt by cdp.sync_source.
SELECT pg_catalog.pg_extension_config_dump('cdp.sources', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.sources_source_id_seq', '');

-- Least privilege: nothing in cdp is readable by PUBLIC; grant per role.
REVOKE ALL ON ALL TABLES IN SCHEMA cdp FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Identity resolution (cdp.resolve): blocking keys, the model, accepted pairs, profiles, lineage
-- ---------------------------------------------------------------------------------------------

-- Blocking keys of every record: the incremental path finds candidates through this index.
CREATE TABLE cdp.record_keys (
    key_hash  bigint NOT NULL,   -- 64-bit hash of kind and value (resolve::keys::key_hash)
    record_id bigint NOT NULL
);
CREATE INDEX record_keys_lookup_idx ON cdp.record_keys (key_hash);
CREATE INDEX record_keys_record_idx ON cdp.record_keys (record_id);
COMMENT ON TABLE cdp.record_keys IS 'Blocking keys per record as 64-bit hashes (hub values excluded), written by cdp.resolve; cdp.blocking_keys(record_id) shows them readable.';

-- Fellegi-Sunter parameters: m and u per field and comparison level, the prior, EM diagnostics.
CREATE TABLE cdp.model (
    model_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    estimated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source         text NOT NULL,          -- estimated | default
    records        bigint NOT NULL,
    candidate_pairs bigint NOT NULL,
    prior          double precision NOT NULL,
    iterations     integer NOT NULL,
    converged      boolean NOT NULL,
    log_likelihood double precision,
    params         jsonb NOT NULL,         -- the full model (m, u per field/level)
    notes          text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE cdp.model IS 'Estimated matching models; cdp.resolve uses the newest unless asked to re-estimate.';

-- Accepted record pairs with their evidence (what explain_match and explain_profile read).
CREATE TABLE cdp.match_edges (
    record_a bigint NOT NULL,
    record_b bigint NOT NULL,
    weight   double precision NOT NULL,
    levels   smallint[] NOT NULL,          -- comparison level per field (NULL = missing), in cdp.match_fields() order
    PRIMARY KEY (record_a, record_b)
);
CREATE INDEX match_edges_b_idx ON cdp.match_edges (record_b);

-- Unified profiles: golden record (matching forms), display values and where each came from.
CREATE SEQUENCE cdp.profile_id_seq;
CREATE TABLE cdp.profiles (
    profile_id   bigint PRIMARY KEY,
    LIKE cdp.identity_attributes,
    display      jsonb NOT NULL DEFAULT '{}'::jsonb,   -- attribute -> original text of the chosen value
    provenance   jsonb NOT NULL DEFAULT '{}'::jsonb,   -- attribute -> record_id it came from
    record_count integer NOT NULL,
    source_count integer NOT NULL,
    content_hash bigint,                                   -- digest of the above: cdp.resolve rewrites only changed profiles
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE cdp.profiles IS 'One row per unified person: stable profile_id, golden record, display values, provenance.';

CREATE TABLE cdp.profile_lineage (
    lineage_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('new', 'merge', 'split')),
    old_profile_id bigint,
    new_profile_id bigint NOT NULL,
    records        integer NOT NULL,
    reason         text,
    run_id         bigint,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX profile_lineage_old_idx ON cdp.profile_lineage (old_profile_id);
CREATE INDEX profile_lineage_new_idx ON cdp.profile_lineage (new_profile_id);
COMMENT ON TABLE cdp.profile_lineage IS 'Every profile merge (old id absorbed into the oldest) and split (part moved to a new id).';

-- Steward decisions, kept across runs: force_link joins two records, cannot_link keeps them apart.
-- A decision names the two source rows (source and key), not record ids: a record deleted and
-- synced again (the row deleted and re-inserted, the source re-registered with the same id, a
-- restore) gets a new id, and the decision must follow the row, never whatever record gets the
-- old id's place. cdp.manual_link_records resolves them to the current records.
CREATE TABLE cdp.manual_links (
    source_a   integer NOT NULL,
    key_a      text NOT NULL,
    source_b   integer NOT NULL,
    key_b      text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('force_link', 'cannot_link')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by name NOT NULL DEFAULT SESSION_USER,    -- the role acting (cdp._acting_role(): force_link runs as pg_cdp's owner)
    PRIMARY KEY (source_a, key_a, source_b, key_b, kind),
    CHECK ((source_a, key_a) < (source_b, key_b))
);
CREATE INDEX manual_links_b_idx ON cdp.manual_links (source_b, key_b);
COMMENT ON TABLE cdp.manual_links IS 'Steward decisions (force_link, cannot_link) between two source rows, named by source and key.';

-- The decisions between records that exist now, as record ids (record_a < record_b).
CREATE VIEW cdp.manual_link_records AS
SELECT LEAST(ra.record_id, rb.record_id) AS record_a, GREATEST(ra.record_id, rb.record_id) AS record_b,
       l.kind, l.created_at, l.created_by
  FROM cdp.manual_links l
  JOIN cdp.records ra ON ra.source_id OPERATOR(pg_catalog.=) l.source_a AND ra.source_key OPERATOR(pg_catalog.=) l.key_a
  JOIN cdp.records rb ON rb.source_id OPERATOR(pg_catalog.=) l.source_b AND rb.source_key OPERATOR(pg_catalog.=) l.key_b;
COMMENT ON VIEW cdp.manual_link_records IS 'Steward decisions between current records, by record id.';

-- Identifier values shared by implausibly many records (placeholders, a shop's phone) and
-- anonymous ids seen with several people (shared devices): excluded from matching, listed here.
CREATE TABLE cdp.hubs (
    key_kind   text NOT NULL,
    key_value  text NOT NULL,
    records    bigint NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('frequent_value', 'shared_device')),
    identities integer,                 -- shared devices: distinct e-mails/phones seen with it
    PRIMARY KEY (key_kind, key_value)
);

-- Survivorship overrides: which record's value becomes the golden value of an attribute.
-- Attributes without a row use the built-in default (see cdp.survivorship_rules).
CREATE TABLE cdp.survivorship (
    attribute text PRIMARY KEY,
    rule      text NOT NULL CHECK (rule IN ('source_priority', 'most_recent', 'most_frequent', 'most_complete'))
);
SELECT pg_catalog.pg_extension_config_dump('cdp.survivorship', '');

-- ---------------------------------------------------------------------------------------------
-- Customer value
-- ---------------------------------------------------------------------------------------------

-- Order tables attributed to profiles through a customer source's rows.
CREATE TABLE cdp.transaction_sources (
    tsource_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table        regclass NOT NULL UNIQUE,
    customer_source_id  integer NOT NULL,
    customer_key_column name NOT NULL,
    amount_column       name NOT NULL,
    occurred_at_column  name NOT NULL,
    currency_column     name,
    channel             text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by       regrole NOT NULL DEFAULT CURRENT_USER::regrole
);
SELECT pg_catalog.pg_extension_config_dump('cdp.transaction_sources', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.transaction_sources_tsource_id_seq', '');

-- Behaviour event tables (page views, add-to-cart, app opens) attributed to profiles through a
-- customer source's rows, as the order tables are.
CREATE TABLE cdp.event_sources (
    esource_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table        regclass NOT NULL UNIQUE,
    customer_source_id  integer NOT NULL,
    customer_key_column name NOT NULL,
    event_type_column   name NOT NULL,
    occurred_at_column  name NOT NULL,
    channel             text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by       regrole NOT NULL DEFAULT CURRENT_USER::regrole
);
SELECT pg_catalog.pg_extension_config_dump('cdp.event_sources', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.event_sources_esource_id_seq', '');

-- Customer keys whose orders or behaviour events changed (capture triggers on the order and
-- event tables); the worker refreshes the traits of their profiles. source_key NULL: the whole
-- table changed (TRUNCATE).
CREATE TABLE cdp.activity_queue (
    customer_source_id integer NOT NULL,
    source_key         text,
    queued_at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON cdp.activity_queue FROM PUBLIC;
GRANT INSERT ON cdp.activity_queue TO cdp_capture;
SELECT pg_catalog.pg_extension_config_dump('cdp.activity_queue', '');

-- Profiles whose traits the worker refreshes next: those of queued activity, and every profile
-- a resolve run created, changed or removed (a merge moves orders to the surviving id).
CREATE TABLE cdp.trait_dirty (profile_id bigint NOT NULL);
SELECT pg_catalog.pg_extension_config_dump('cdp.trait_dirty', '');

-- Conversion of order amounts to one reporting currency: amount × rate. Empty: amounts are
-- used as they are, and orders in more than one currency are refused.
CREATE TABLE cdp.currency_rates (
    currency   text PRIMARY KEY CHECK (currency OPERATOR(pg_catalog.<>) ''),
    rate       numeric NOT NULL CHECK (rate OPERATOR(pg_catalog.>) 0),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('cdp.currency_rates', '');

-- A replacement R×F segment map (empty: the standard map; see cdp.rfm_segments).
CREATE TABLE cdp.rfm_segment_map (
    segment text PRIMARY KEY,
    r_min smallint NOT NULL CHECK (r_min BETWEEN 1 AND 5),
    r_max smallint NOT NULL CHECK (r_max BETWEEN 1 AND 5),
    f_min smallint NOT NULL CHECK (f_min BETWEEN 1 AND 5),
    f_max smallint NOT NULL CHECK (f_max BETWEEN 1 AND 5)
);
SELECT pg_catalog.pg_extension_config_dump('cdp.rfm_segment_map', '');

-- RFM per profile, written by cdp.compute_rfm.
CREATE TABLE cdp.rfm (
    profile_id     bigint PRIMARY KEY,
    recency_days   integer NOT NULL,
    frequency      integer NOT NULL,
    monetary_total numeric NOT NULL,
    monetary_avg   numeric,
    r_score        smallint NOT NULL,
    f_score        smallint NOT NULL,
    m_score        smallint NOT NULL,
    rfm_cell       text NOT NULL,
    segment        text,
    as_of          timestamptz NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Lifetime-value fits (BG/NBD + Gamma-Gamma) and the predictions of the latest one.
CREATE TABLE cdp.clv_model (
    model_id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fitted_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    customers       bigint NOT NULL,
    converged       boolean NOT NULL,
    horizon_days    double precision NOT NULL,
    annual_discount double precision NOT NULL,
    params          jsonb NOT NULL          -- {"bg_nbd": {r, alpha, a, b, ...}, "gamma_gamma": {p, q, v, ...}}
);
CREATE TABLE cdp.clv (
    profile_id         bigint PRIMARY KEY,
    orders             integer NOT NULL,
    historical_value   numeric NOT NULL,
    p_alive            double precision,
    expected_purchases double precision,
    expected_spend     double precision,
    predicted_clv      double precision,
    as_of              timestamptz NOT NULL,
    computed_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Profile traits in long form: built-in ones from the orders, custom ones (cdp.define_trait) and
-- cluster labels (cdp.cluster_profiles). Numeric traits in value, text traits in text_value.
CREATE TABLE cdp.profile_traits (
    profile_id  bigint NOT NULL,
    trait       text NOT NULL,
    value       double precision,
    text_value  text,
    computed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (profile_id, trait)
);
CREATE INDEX profile_traits_trait_idx ON cdp.profile_traits (trait);

-- Custom traits: an aggregate SQL expression over a profile's orders (amount, occurred_at,
-- currency, tsource_id, channel) or over its behaviour events (event_type, occurred_at, channel,
-- esource_id).
CREATE TABLE cdp.trait_definitions (
    trait      text PRIMARY KEY CHECK (trait ~ '^[a-z_][a-z0-9_]*$'),
    expression text NOT NULL,            -- as written; runs only in the checked form (cdp._check_trait_expression)
    over       text NOT NULL DEFAULT 'orders' CHECK (over IN ('orders', 'events')),
    defined_by name NOT NULL DEFAULT SESSION_USER,   -- the role acting (cdp._acting_role())
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('cdp.trait_definitions', '');

-- One row per resolution run: its summary.
-- What cdp.resolve last wrote to its derived tables (digest and row count, same transaction):
-- a run whose keys or edges are the same leaves the table as it is.
CREATE TABLE cdp.resolve_state (
    table_name text PRIMARY KEY,
    digest     text NOT NULL,
    row_count  bigint NOT NULL
);

CREATE TABLE cdp.resolve_runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    summary     jsonb NOT NULL
);

-- Records deleted since the last resolve run, with the profile they left: cdp.resolve_changes
-- re-checks those profiles and the ones their edges reached (the rest may have fallen apart)
-- and removes the records' keys and edges. The trigger only appends here: touching the resolve tables themselves from a sync could
-- deadlock a sync and a resolve run in the same transaction against another resolve run.
CREATE TABLE cdp.resolve_gone (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id bigint,                  -- NULL: deleted before a run gave it a profile
    record_id  bigint NOT NULL
);

CREATE FUNCTION cdp._records_deleted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- every deleted record, profile or not: a run in progress may be giving it one
    INSERT INTO cdp.resolve_gone (profile_id, record_id)
    SELECT g.profile_id, g.record_id FROM gone g;
    RETURN NULL;
END
$$;
CREATE TRIGGER records_deleted AFTER DELETE ON cdp.records
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cdp._records_deleted();

-- Name frequencies of the last full run (names held by two records or more; the row with an
-- empty name_key holds the number of names counted): the term-frequency adjustment of
-- cdp.resolve_changes uses the counts over all records, as a full run does.
CREATE TABLE cdp.name_frequencies (
    name_key text PRIMARY KEY,
    records  bigint NOT NULL
);

-- Which source rows make up each profile.
CREATE VIEW cdp.profile_members AS
SELECT r.profile_id, s.source_table, r.source_key, r.record_id, s.channel
  FROM cdp.records r
  JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
 WHERE r.profile_id IS NOT NULL;
COMMENT ON VIEW cdp.profile_members IS 'One row per source row with the profile it belongs to.';

SELECT pg_catalog.pg_extension_config_dump('cdp.manual_links', '');

-- pg_dump keeps everything pg_cdp derived as well, with the sequences behind its ids: a restore
-- brings back the same records (so steward decisions keep pointing at the same rows), the same
-- profile ids with their lineage, the model, the pair evidence and the queue, without a re-sync
-- or a re-resolve that would hand out new ids.
SELECT pg_catalog.pg_extension_config_dump('cdp.records', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.records_record_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.quarantine_quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.record_keys', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.model', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.match_edges', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profiles', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_lineage', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_lineage_lineage_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.hubs', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.resolve_state', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.resolve_runs', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.resolve_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.resolve_gone', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.resolve_gone_seq_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.name_frequencies', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.rfm', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.clv', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.clv_model', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.clv_model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_traits', '');
