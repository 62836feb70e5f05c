-- pg_cdp public SQL API: thin wrappers with user-facing signatures and a fixed search_path over
-- the internal Rust functions (cdp._*), plus the change capture that feeds the background worker.
-- Emitted last (finalize), after the Rust functions exist.

-- ---------------------------------------------------------------------------------------------
-- Sources
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp.add_source(
    source_table regclass,
    key_column   name,
    mapping      jsonb,
    channel      text DEFAULT NULL,
    priority     integer DEFAULT 0)
RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._add_source(source_table::oid, key_column::text, mapping, channel, priority) $$;
COMMENT ON FUNCTION cdp.add_source(regclass, name, jsonb, text, integer) IS
'Register a table as a source: key_column must be unique; mapping maps identity attributes to columns. Installs change-capture triggers. Returns the source id.';

CREATE FUNCTION cdp.sync_source(source_table regclass, renormalise boolean DEFAULT false)
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._sync_source(source_table::oid, renormalise) $$;
COMMENT ON FUNCTION cdp.sync_source(regclass, boolean) IS
'Read the source''s current rows set-based and normalise them into cdp.records: insert new rows, re-normalise changed ones, delete gone ones, leave unchanged ones untouched (renormalise => true re-normalises every row, e.g. after changing cdp.default_country). Returns the number of records of the source.';

CREATE FUNCTION cdp.drop_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._drop_source(source_table::oid) $$;
COMMENT ON FUNCTION cdp.drop_source(regclass) IS
'Unregister a source: removes its capture triggers, its records, quarantined rows and queued changes. The table itself is untouched.';

-- ---------------------------------------------------------------------------------------------
-- Change capture: statement-level triggers with transition tables queue the keys of changed
-- rows; the background worker (or cdp.process_changes) re-syncs exactly those keys.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE cdp.change_queue (
    change_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id  integer NOT NULL,
    source_key text,                    -- NULL: the whole source (after TRUNCATE)
    queued_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE cdp.change_queue IS 'Keys of source rows changed since they were last synced; drained by the background worker or cdp.process_changes().';
REVOKE ALL ON cdp.change_queue FROM PUBLIC;

-- SECURITY DEFINER: an application that writes its own table needs no rights on cdp. It only
-- queues keys (never row contents); the key column comes from the trigger definition.
CREATE FUNCTION cdp._capture_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid    integer := TG_ARGV[0]::integer;
    keycol text    := TG_ARGV[1];
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        INSERT INTO cdp.change_queue (source_id, source_key) VALUES (sid, NULL);
        RETURN NULL;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.change_queue (source_id, source_key)
             SELECT $1, n.%1$I::text FROM cdp_new n WHERE n.%1$I IS NOT NULL', keycol) USING sid;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.change_queue (source_id, source_key)
             SELECT $1, o.%1$I::text FROM cdp_old o WHERE o.%1$I IS NOT NULL', keycol) USING sid;
    ELSE
        -- UPDATE: the key itself may change, so queue both the old and the new key.
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.change_queue (source_id, source_key)
             SELECT $1, k FROM (SELECT o.%1$I::text AS k FROM cdp_old o
                                UNION SELECT n.%1$I::text FROM cdp_new n) u
              WHERE k IS NOT NULL', keycol) USING sid;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        -- A row without a key cannot become a record: keep it, with the reason.
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.quarantine (source_id, source_key, reason, detail, row_data)
             SELECT $1, NULL, ''null_key'', $2, pg_catalog.to_jsonb(n) FROM cdp_new n WHERE n.%1$I IS NULL', keycol)
            USING sid, 'key column ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(keycol) OPERATOR(pg_catalog.||) ' is NULL';
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cdp._capture_changes() FROM PUBLIC;

-- Apply up to max_changes queued changes. Each source's batch runs in its own subtransaction: a
-- batch that fails is moved to cdp.quarantine with the error, and the rest goes on. Returns the
-- number of keys applied. Safe to run concurrently (SKIP LOCKED) and with cdp.sync_source.
CREATE FUNCTION cdp.process_changes(max_changes integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    batch   jsonb;
    item    jsonb;
    keys    text[];
    applied bigint := 0;
BEGIN
    IF max_changes IS NULL OR max_changes OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'max_changes must be at least 1, not %', max_changes
              USING ERRCODE = '22023';
    END IF;
    WITH picked AS (
        DELETE FROM cdp.change_queue q
         WHERE q.change_id OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT c.change_id FROM cdp.change_queue c
                ORDER BY c.change_id LIMIT max_changes
                  FOR UPDATE SKIP LOCKED))
        RETURNING q.source_id, q.source_key
    ), per_source AS (
        SELECT p.source_id, pg_catalog.array_agg(DISTINCT p.source_key) AS keys
          FROM picked p GROUP BY p.source_id
    )
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('s', ps.source_id, 'k', ps.keys)), '[]'::jsonb)
      INTO batch FROM per_source ps;

    FOR item IN SELECT e FROM pg_catalog.jsonb_array_elements(batch) e LOOP
        keys := ARRAY(SELECT pg_catalog.jsonb_array_elements_text(item OPERATOR(pg_catalog.->) 'k'));
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM cdp.sources s
                                   WHERE s.source_id OPERATOR(pg_catalog.=) (item OPERATOR(pg_catalog.->>) 's')::integer);
        BEGIN
            PERFORM cdp._sync_keys((item OPERATOR(pg_catalog.->>) 's')::integer, keys);
            applied := applied OPERATOR(pg_catalog.+) pg_catalog.cardinality(keys);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO cdp.quarantine (source_id, source_key, reason, detail)
            SELECT (item OPERATOR(pg_catalog.->>) 's')::integer, k, 'apply_failed', SQLSTATE OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) SQLERRM
              FROM pg_catalog.unnest(keys) k;
        END;
    END LOOP;
    RETURN applied;
END
$$;
COMMENT ON FUNCTION cdp.process_changes(integer) IS
'Apply queued source changes to cdp.records (what the background worker runs). A failing batch goes to cdp.quarantine, never blocks the queue.';

-- A dropped source table unregisters itself, so no dangling regclass stays in cdp.sources.
CREATE FUNCTION cdp._on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM cdp.sources s
     USING pg_catalog.pg_event_trigger_dropped_objects() d
     WHERE d.object_type OPERATOR(pg_catalog.=) 'table'
       AND d.objid OPERATOR(pg_catalog.=) s.source_table::oid;
END
$$;
CREATE EVENT TRIGGER cdp_source_dropped ON sql_drop EXECUTE FUNCTION cdp._on_sql_drop();

-- ---------------------------------------------------------------------------------------------
-- Identity resolution
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp.resolve(reestimate boolean DEFAULT false)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._resolve(reestimate) $$;
COMMENT ON FUNCTION cdp.resolve(boolean) IS
'Resolve every synced record into unified profiles with stable ids. Uses the newest model in cdp.model (estimating one the first time, or when reestimate is true). Returns a summary; progress as NOTICE lines.';

CREATE FUNCTION cdp.explain_match(record_a bigint, record_b bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._explain_match(record_a, record_b) $$;
COMMENT ON FUNCTION cdp.explain_match(bigint, bigint) IS
'Why two records are or are not one person: per-field comparison level and weight, total against cdp.match_threshold, shared blocking keys, manual decisions.';

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
                        'record_a', e.record_a, 'record_b', e.record_b, 'weight', e.weight) ORDER BY e.weight DESC, e.record_a, e.record_b)
                    FROM cdp.match_edges e
                    JOIN cdp.records ra ON ra.record_id OPERATOR(pg_catalog.=) e.record_a
                   WHERE ra.profile_id OPERATOR(pg_catalog.=) pid),
        'manual', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'record_a', l.record_a, 'record_b', l.record_b, 'kind', l.kind) ORDER BY l.record_a, l.record_b)
                     FROM cdp.manual_links l
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
'A profile: golden record with provenance, member source rows, the accepted pairs that join them, manual decisions and lineage.';

CREATE FUNCTION cdp.set_survivorship(attribute text, rule text)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._set_survivorship(attribute, rule) $$;
COMMENT ON FUNCTION cdp.set_survivorship(text, text) IS
'Choose how the golden value of an attribute is picked: source_priority, most_recent, most_frequent or most_complete (NULL: back to the default). Applied by the next cdp.resolve().';

CREATE VIEW cdp.survivorship_rules AS
SELECT attribute, rule, is_default FROM cdp._survivorship_rules();
COMMENT ON VIEW cdp.survivorship_rules IS 'The survivorship rule in force for every attribute.';

CREATE FUNCTION cdp._check_records(VARIADIC ids bigint[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT i INTO missing FROM pg_catalog.unnest(ids) i
     WHERE i IS NULL OR NOT EXISTS (SELECT 1 FROM cdp.records r WHERE r.record_id OPERATOR(pg_catalog.=) i) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'record % does not exist', COALESCE(missing::text, 'NULL') USING ERRCODE = '42704',
              HINT = 'record ids are cdp.records.record_id (see cdp.profile_members)';
    END IF;
END
$$;

CREATE FUNCTION cdp.force_link(record_a bigint, record_b bigint)
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
    DELETE FROM cdp.manual_links l
     WHERE l.record_a OPERATOR(pg_catalog.=) LEAST(record_a, record_b)
       AND l.record_b OPERATOR(pg_catalog.=) GREATEST(record_a, record_b) AND l.kind OPERATOR(pg_catalog.=) 'cannot_link';
    INSERT INTO cdp.manual_links (record_a, record_b, kind)
    VALUES (LEAST(record_a, record_b), GREATEST(record_a, record_b), 'force_link')
    ON CONFLICT DO NOTHING;
    RETURN true;
END
$$;
COMMENT ON FUNCTION cdp.force_link(bigint, bigint) IS
'Steward decision: these two records are one person. Kept across runs; applied by the next cdp.resolve().';

CREATE FUNCTION cdp.force_split(record_id bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE
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
    DELETE FROM cdp.manual_links l
     WHERE (l.record_a OPERATOR(pg_catalog.=) record OR l.record_b OPERATOR(pg_catalog.=) record)
       AND l.kind OPERATOR(pg_catalog.=) 'force_link';
    INSERT INTO cdp.manual_links (record_a, record_b, kind)
    SELECT LEAST(record, r.record_id), GREATEST(record, r.record_id), 'cannot_link'
      FROM cdp.records r
     WHERE r.profile_id OPERATOR(pg_catalog.=) pid AND r.record_id OPERATOR(pg_catalog.<>) record
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION cdp.force_split(bigint) IS
'Steward decision: this record is not the person of its current profile (cannot-link to each other member). Kept across runs; applied by the next cdp.resolve(). Returns the number of cannot-link pairs added.';

-- ---------------------------------------------------------------------------------------------
-- Background worker
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp.worker_status(
    OUT preloaded boolean,
    OUT worker_pid integer,
    OUT worker_database text,
    OUT queued_changes bigint,
    OUT oldest_change_age interval)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._require_worker(),
           (SELECT a.pid FROM pg_catalog.pg_stat_activity a
             WHERE a.backend_type OPERATOR(pg_catalog.=) 'pg_cdp worker' LIMIT 1),
           pg_catalog.current_setting('cdp.database'),
           (SELECT pg_catalog.count(*) FROM cdp.change_queue),
           (SELECT pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.queued_at) FROM cdp.change_queue q)
$$;
COMMENT ON FUNCTION cdp.worker_status() IS
'The background worker: its pid, database, and the changes waiting for it. Errors with a hint when pg_cdp is not preloaded.';

REVOKE ALL ON ALL TABLES IN SCHEMA cdp FROM PUBLIC;
