-- pg_cdp: identity resolution: blocking keys, the model, accepted pairs, profiles, lineage,
-- steward decisions and survivorship, and the wrappers over src/api/resolve/.

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

-- Pairs the last full run scored a little below cdp.match_threshold (within 4 bits): the least
-- certain rejections, for cdp.review_queue. Same columns as cdp.match_edges.
CREATE TABLE cdp.near_matches (
    record_a bigint NOT NULL,
    record_b bigint NOT NULL,
    weight   double precision NOT NULL,
    levels   smallint[] NOT NULL,
    PRIMARY KEY (record_a, record_b)
);

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
    -- their consent statements go with them (sql/consent.sql)
    IF EXISTS (SELECT 1 FROM cdp.consent_statements) THEN
        DELETE FROM cdp.consent_statements k USING gone g WHERE k.record_id OPERATOR(pg_catalog.=) g.record_id;
    END IF;
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
SELECT pg_catalog.pg_extension_config_dump('cdp.record_keys', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.model', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.match_edges', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.near_matches', '');
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

-- ---------------------------------------------------------------------------------------------
-- Identity resolution
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp.resolve(reestimate boolean DEFAULT false)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._audit('resolve.full', NULL, cdp._resolve(reestimate)) $$;
COMMENT ON FUNCTION cdp.resolve(boolean) IS
'Resolve every synced record into unified profiles with stable ids. Uses the newest model in cdp.model (estimating one the first time, or when reestimate is true). Returns a summary; progress as NOTICE lines.';

CREATE FUNCTION cdp.resolve_changes(max_records integer DEFAULT 10000, wait boolean DEFAULT true)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off   -- many short index look-ups: compiling them costs more than it saves
AS $$ SELECT cdp._audit('resolve.changes', NULL, cdp._resolve_changes(max_records, wait)) $$;
COMMENT ON FUNCTION cdp.resolve_changes(integer, boolean) IS
'Incremental resolution: match the records changed since the last run (at most max_records, oldest first) against the others through cdp.record_keys and re-cluster only the profiles they touch, with the stored model. Needs one cdp.resolve() first. With wait false, returns at once (skipped) when another resolve run holds the lock. Returns a summary; more_pending says whether records are left.';

-- The background worker's step after applying changes: one incremental batch once a model is
-- stored, never waiting for a full run or for locks. A failure is rolled back (subtransaction)
-- and reported by SQLSTATE only (messages can quote data), so it never stops the worker.
CREATE FUNCTION cdp._worker_resolve(max_records integer)
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

CREATE FUNCTION cdp.explain_match(record_a bigint, record_b bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._explain_match(record_a, record_b) $$;
COMMENT ON FUNCTION cdp.explain_match(bigint, bigint) IS
'Why two records are or are not one person: per-field comparison level and weight as a run weighs them (name frequency, hub values left out), total against cdp.match_threshold, shared blocking keys, manual decisions, and a note when their profiles disagree with the weight.';

CREATE FUNCTION cdp.explain_profile(profile_id bigint)
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
COMMENT ON FUNCTION cdp.explain_profile(bigint) IS
'A profile: golden record with provenance, member source rows, the accepted pairs that join them with their weight and evidence, manual decisions and lineage.';
COMMENT ON FUNCTION cdp.match_fields() IS
'The compared fields in the order of cdp.match_edges.levels, each with its comparison levels best first (a stored level l reads levels[l + 1]).';
COMMENT ON FUNCTION cdp.blocking_keys(bigint) IS
'The blocking keys of one record, readable (cdp.record_keys stores their hashes).';

CREATE FUNCTION cdp.set_survivorship(attribute text, rule text)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('survivorship.set', attribute, pg_catalog.jsonb_build_object('rule', rule));
    SELECT cdp._set_survivorship(attribute, rule)
$$;
COMMENT ON FUNCTION cdp.set_survivorship(text, text) IS
'Choose how the golden value of an attribute is picked: source_priority, most_recent, most_frequent or most_complete (NULL: back to the default). Applied by the next cdp.resolve().';

CREATE VIEW cdp.survivorship_rules AS
SELECT attribute, rule, is_default FROM cdp._survivorship_rules();
COMMENT ON VIEW cdp.survivorship_rules IS 'The survivorship rule in force for every attribute.';

-- The source rows of two records, in the order cdp.manual_links keeps them.
CREATE FUNCTION cdp._row_pair(record_1 bigint, record_2 bigint)
RETURNS TABLE (source_a integer, key_a text, source_b integer, key_b text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.source_id, a.source_key, b.source_id, b.source_key
      FROM cdp.records a, cdp.records b
     WHERE a.record_id OPERATOR(pg_catalog.=) ANY (ARRAY[record_1, record_2])
       AND b.record_id OPERATOR(pg_catalog.=) ANY (ARRAY[record_1, record_2])
       AND (a.source_id, a.source_key) OPERATOR(pg_catalog.<) (b.source_id, b.source_key)
$$;

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

CREATE FUNCTION cdp.force_split(record_id bigint)
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
COMMENT ON FUNCTION cdp.force_split(bigint) IS
'Steward decision: this record is not the person of its current profile (cannot-link to each other member). Kept across runs; applied by the next cdp.resolve() or cdp.resolve_changes() (the record is marked pending). Returns the number of cannot-link pairs added.';

-- Descriptions (\d+ shows them; the reference test requires one for every table and function).
COMMENT ON TABLE cdp.hubs IS 'Identifier values shared by implausibly many records (placeholders, a shop''s phone) and anonymous ids seen with several people: excluded from matching.';
COMMENT ON TABLE cdp.match_edges IS 'Accepted record pairs with their evidence (what cdp.explain_match and cdp.explain_profile read).';
COMMENT ON TABLE cdp.near_matches IS 'Pairs the last full cdp.resolve() scored within 4 bits below cdp.match_threshold, with their evidence: the least certain rejections, for cdp.review_queue.';
COMMENT ON TABLE cdp.name_frequencies IS 'Name frequencies of the last full run, for the term-frequency adjustment of cdp.resolve_changes.';
COMMENT ON TABLE cdp.resolve_gone IS 'Records deleted since the last resolve run, with the profile they left: cdp.resolve_changes re-checks those profiles.';
COMMENT ON TABLE cdp.resolve_runs IS 'One row per resolution run (full or incremental): its summary.';
COMMENT ON TABLE cdp.resolve_state IS 'What cdp.resolve last wrote to its derived tables (digest and row count): a run with the same keys or edges leaves them as they are.';
COMMENT ON TABLE cdp.survivorship IS 'Survivorship overrides (cdp.set_survivorship): how the golden value of an attribute is picked; see cdp.survivorship_rules.';
