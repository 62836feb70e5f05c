-- pg_cdp public SQL API: thin wrappers with user-facing signatures and a fixed search_path over
-- the internal Rust functions (cdp._*), plus the change capture that feeds the background worker.
-- Emitted last (finalize), after the Rust functions exist.

-- ---------------------------------------------------------------------------------------------
-- Sources
-- ---------------------------------------------------------------------------------------------
-- SECURITY INVOKER on purpose: cdp._add_source registers the source for the calling role (whose
-- rights it checks) and writes the registration and the triggers with pg_cdp's owner's rights.
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
'Register a table as a source for the calling role (which must be able to read the key and mapped columns, whole, and create triggers on it): key_column must be unique and of a key type; mapping maps identity attributes to columns. Installs change-capture triggers on the table and every partition. Returns the source id.';

CREATE FUNCTION cdp.alter_source(
    source_table regclass,
    mapping      jsonb DEFAULT NULL,
    channel      text DEFAULT NULL,
    priority     integer DEFAULT NULL,
    key_column   name DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._alter_source(source_table::oid, mapping, channel, priority, key_column::text) $$;
COMMENT ON FUNCTION cdp.alter_source(regclass, jsonb, text, integer, name) IS
'Change a source in place (NULL: unchanged): channel and priority at once; a new mapping or key column is checked like cdp.add_source and the source re-synced whole. Records, profile ids and steward decisions stay.';

-- SECURITY DEFINER: runs as pg_cdp's owner, and reads the table only after checking the rights
-- of the role that registered it; it evaluates none of the caller's code.
CREATE FUNCTION cdp.sync_source(source_table regclass, renormalise boolean DEFAULT false)
RETURNS bigint
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._sync_source(source_table::oid, renormalise) $$;
COMMENT ON FUNCTION cdp.sync_source(regclass, boolean) IS
'Read the source''s current rows set-based and normalise them into cdp.records: insert new rows, re-normalise changed ones, delete gone ones, leave unchanged ones untouched (renormalise => true re-normalises every row, e.g. after changing cdp.default_country). Returns the number of records of the source.';

CREATE FUNCTION cdp.drop_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._drop_source(source_table::oid) $$;
COMMENT ON FUNCTION cdp.drop_source(regclass) IS
'Unregister a source: removes its capture triggers, its records, quarantined rows and queued changes. The table itself is untouched.';

-- The functions that read source rows pin every setting that changes a value's text form, so a
-- key or a date reads the same from every session (and from the worker).
ALTER FUNCTION cdp._sync_source(oid, boolean) SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' SET IntervalStyle = 'postgres' SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION cdp._sync_keys(integer, text[]) SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' SET IntervalStyle = 'postgres' SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION cdp._quarantine_null_keys(integer) SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' SET IntervalStyle = 'postgres' SET extra_float_digits = 1 SET bytea_output = 'hex';
ALTER FUNCTION cdp._alter_source(oid, jsonb, text, integer, text) SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC' SET IntervalStyle = 'postgres' SET extra_float_digits = 1 SET bytea_output = 'hex';

-- ---------------------------------------------------------------------------------------------
-- Change capture: statement-level triggers with transition tables queue the keys of changed
-- rows; the background worker (or cdp.process_changes) re-syncs exactly those keys.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE cdp.change_queue (
    change_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id       integer NOT NULL,
    source_key      text,                   -- NULL for the ops 'a' and 'n'
    op              "char" NOT NULL DEFAULT 'k' CHECK (op IN ('k', 'a', 'n')),
                                            -- k: this key; a: the whole source (TRUNCATE, a partition
                                            -- attached or detached, the key column gone); n: look for
                                            -- rows with a NULL key
    queued_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,            -- a failed key waits until then (back-off)
    last_sqlstate   text
);
CREATE INDEX change_queue_source_idx ON cdp.change_queue (source_id);
COMMENT ON TABLE cdp.change_queue IS 'Keys of source rows changed since they were last synced; drained by the background worker or cdp.process_changes(). A key that failed waits with its attempts and SQLSTATE.';
REVOKE ALL ON cdp.change_queue FROM PUBLIC;
GRANT INSERT ON cdp.change_queue TO cdp_capture;
SELECT pg_catalog.pg_extension_config_dump('cdp.change_queue', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.change_queue_change_id_seq', '');

-- The keys of the rows a statement changed, as text, NULL keys left out, read from the
-- transition tables of a capture trigger (cdp_new, cdp_old): the one form both capture triggers
-- queue. An UPDATE may change the key itself, so it gives the old keys and the new ones.
CREATE FUNCTION cdp._changed_keys_sql(op text, keycol name, dedup boolean)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE op
        WHEN 'INSERT' THEN pg_catalog.format('SELECT %2$s n.%1$I::text FROM cdp_new n WHERE n.%1$I IS NOT NULL', keycol,
                                             CASE WHEN dedup THEN 'DISTINCT' ELSE '' END)
        WHEN 'DELETE' THEN pg_catalog.format('SELECT %2$s o.%1$I::text FROM cdp_old o WHERE o.%1$I IS NOT NULL', keycol,
                                             CASE WHEN dedup THEN 'DISTINCT' ELSE '' END)
        ELSE pg_catalog.format('SELECT o.%1$I::text FROM cdp_old o WHERE o.%1$I IS NOT NULL
                                UNION SELECT n.%1$I::text FROM cdp_new n WHERE n.%1$I IS NOT NULL', keycol) END
$$;

-- Runs inside the applications' own writes, so it is built to never fail them and to run nothing
-- of theirs with rights they lack: SECURITY DEFINER owned by the NOLOGIN role cdp_capture, whose
-- only right is appending to cdp.change_queue; it queues keys (never row contents) of a type
-- whose text form no session setting changes (cdp.add_source allows only such key types; the
-- settings are pinned besides). The key column is found by number at every call, so renaming it
-- changes nothing; when it is gone, or queueing fails, the whole source is queued for a re-sync
-- and a WARNING says so instead of an error in the application's transaction.
CREATE FUNCTION cdp._capture_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET DateStyle = 'ISO, YMD'
SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    sid    integer := TG_ARGV[0]::integer;
    keynum smallint := TG_ARGV[1]::smallint;
    keycol name;
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        INSERT INTO cdp.change_queue (source_id, source_key, op) VALUES (sid, NULL, 'a');
        RETURN NULL;
    END IF;
    SELECT a.attname INTO keycol FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.=) keynum AND NOT a.attisdropped;
    IF keycol IS NULL THEN
        INSERT INTO cdp.change_queue (source_id, source_key, op) VALUES (sid, NULL, 'a');
        RAISE WARNING 'pg_cdp: the key column of source % (%) is gone; a full re-sync is queued', sid, TG_RELID::regclass
              USING HINT = 'give the source a key again with cdp.alter_source, or unregister it with cdp.drop_source';
        RETURN NULL;
    END IF;
    BEGIN
        -- (a source key is unique: the keys of one statement need no de-duplication)
        EXECUTE pg_catalog.format('INSERT INTO cdp.change_queue (source_id, source_key) SELECT $1, u.k FROM (%s) u(k)',
                                  cdp._changed_keys_sql(TG_OP, keycol, false)) USING sid;
        -- A row without a key cannot become a record: the sync keeps it in cdp.quarantine, and
        -- forgets it when it is deleted or given a key. Either way a sweep of the source's
        -- null-key rows is queued.
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.change_queue (source_id, source_key, op)
             SELECT $1, NULL, ''n'' WHERE EXISTS (SELECT 1 FROM %2$s n WHERE n.%1$I IS NULL)', keycol,
            CASE TG_OP WHEN 'INSERT' THEN 'cdp_new' WHEN 'DELETE' THEN 'cdp_old'
                       ELSE '(SELECT * FROM cdp_new UNION ALL SELECT * FROM cdp_old)' END) USING sid;
    EXCEPTION WHEN OTHERS THEN
        -- e.g. a key whose type was changed to one without a text form: keep the change by
        -- re-syncing the whole source rather than failing the application's write
        INSERT INTO cdp.change_queue (source_id, source_key, op) VALUES (sid, NULL, 'a');
        RAISE WARNING 'pg_cdp: could not queue the changed keys of source % (SQLSTATE %); a full re-sync is queued', sid, SQLSTATE;
    END;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cdp._capture_changes() FROM PUBLIC;
ALTER FUNCTION cdp._capture_changes() OWNER TO cdp_capture;

-- SQLSTATE classes worth retrying as they are: serialization failures and deadlocks (40), lock
-- not available (55P03), cancelled by a timeout (57014), out of resources (53), connection and
-- system trouble (08, 58). Anything else is a property of the key's row and is isolated.
CREATE FUNCTION cdp._transient(sqlstate text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.left(sqlstate, 2) OPERATOR(pg_catalog.=) ANY (ARRAY['40', '53', '08', '58'])
             OR sqlstate OPERATOR(pg_catalog.=) ANY (ARRAY['55P03', '57014']) $$;

-- Apply one source's keys in a subtransaction. A failure is isolated by halving: the keys that
-- apply are applied, a failing key goes back to the queue with one more attempt and a back-off
-- (10 s, doubling, at most an hour), and after cdp.max_apply_attempts non-transient failures it
-- is kept in cdp.quarantine (SQLSTATE only) until cdp.retry_quarantine(). Transient failures
-- are never quarantined and are not halved. op 'a' (whole source) and 'n' (null-key sweep)
-- cannot be halved. Returns the number of keys applied.
CREATE FUNCTION cdp._apply_changes(sid integer, op "char", keys text[], attempts integer[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st   text;
    half integer;
    n    integer := pg_catalog.cardinality(keys);
BEGIN
    BEGIN
        IF op OPERATOR(pg_catalog.=) 'n' THEN
            PERFORM cdp._quarantine_null_keys(sid);
        ELSIF op OPERATOR(pg_catalog.=) 'a' THEN
            PERFORM cdp._sync_keys(sid, ARRAY[NULL]::text[]);
        ELSE
            PERFORM cdp._sync_keys(sid, keys);
        END IF;
        RETURN CASE WHEN op OPERATOR(pg_catalog.=) 'k' THEN n ELSE 1 END;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
    END;
    IF op OPERATOR(pg_catalog.=) 'k' AND n OPERATOR(pg_catalog.>) 1 AND NOT cdp._transient(st) THEN
        half := n OPERATOR(pg_catalog./) 2;
        RETURN cdp._apply_changes(sid, op, keys[1:half], attempts[1:half])
             OPERATOR(pg_catalog.+) cdp._apply_changes(sid, op, keys[half OPERATOR(pg_catalog.+) 1:n], attempts[half OPERATOR(pg_catalog.+) 1:n]);
    END IF;
    -- back to the queue, or (non-transient, attempts used up) to quarantine
    INSERT INTO cdp.change_queue (source_id, source_key, op, attempts, next_attempt_at, last_sqlstate)
    SELECT sid, k.key, op, k.attempts OPERATOR(pg_catalog.+) 1,
           pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => LEAST(3600, 10 OPERATOR(pg_catalog.*) (2 OPERATOR(pg_catalog.^) LEAST(k.attempts, 12)))),
           st
      FROM ROWS FROM (pg_catalog.unnest(keys), pg_catalog.unnest(attempts)) k(key, attempts)
     WHERE cdp._transient(st) OR k.attempts OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.<) pg_catalog.current_setting('cdp.max_apply_attempts')::integer;
    INSERT INTO cdp.quarantine (source_id, source_key, reason, detail, sqlstate, attempts)
    SELECT sid, k.key, CASE WHEN op OPERATOR(pg_catalog.=) 'k' THEN 'apply_failed' ELSE 'resync_failed' END,
           'applying the change failed with SQLSTATE ' OPERATOR(pg_catalog.||) st, st, k.attempts OPERATOR(pg_catalog.+) 1
      FROM ROWS FROM (pg_catalog.unnest(keys), pg_catalog.unnest(attempts)) k(key, attempts)
     WHERE NOT cdp._transient(st) AND k.attempts OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.>=) pg_catalog.current_setting('cdp.max_apply_attempts')::integer;
    RETURN 0;
END
$$;

-- Apply up to max_changes queued changes that are due, per source and op. Safe to run
-- concurrently (SKIP LOCKED) and with cdp.sync_source. Returns the number of keys applied. Runs
-- as pg_cdp's owner: the source tables are read only for the role that registered them, and
-- none of the caller's code runs here. Also drops quarantined rows older than
-- cdp.quarantine_retention.
CREATE FUNCTION cdp.process_changes(max_changes integer DEFAULT 10000)
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
            RETURNING q.source_id, q.source_key, q.op, q.attempts
        ), per_key AS (
            SELECT p.source_id, p.op, p.source_key, pg_catalog.max(p.attempts) AS attempts
              FROM picked p GROUP BY 1, 2, 3
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
COMMENT ON FUNCTION cdp.process_changes(integer) IS
'Apply queued source changes to cdp.records (what the background worker runs). A failing key is isolated, retried with back-off, and after cdp.max_apply_attempts kept in cdp.quarantine; it never blocks the queue.';

-- Failed keys back into the queue (all sources, or one).
CREATE FUNCTION cdp.retry_quarantine(source_table regclass DEFAULT NULL)
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
    RETURN n;
END
$$;
COMMENT ON FUNCTION cdp.retry_quarantine(regclass) IS
'Queue the changes kept in cdp.quarantine after failing (apply_failed, resync_failed) again, for every source or one; returns the number queued.';

-- A dropped source or transaction-source table unregisters itself, so no dangling regclass stays
-- in cdp.sources or cdp.transaction_sources. Event triggers run as the user who dropped
-- something, and every DROP in the database fires this one: SECURITY DEFINER (that user needs no
-- rights on cdp), and nothing but a look at the dropped objects unless a registered table is
-- among them.
CREATE FUNCTION cdp._on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped oid[];
BEGIN
    SELECT pg_catalog.array_agg(d.objid) INTO dropped
      FROM pg_catalog.pg_event_trigger_dropped_objects() d
     WHERE d.object_type OPERATOR(pg_catalog.=) ANY (ARRAY['table', 'view', 'materialized view', 'foreign table'])
       AND d.objid OPERATOR(pg_catalog.>=) 16384;    -- FirstNormalObjectId: never a system table
    IF dropped IS NULL THEN
        RETURN;
    END IF;
    -- DROP EXTENSION pg_cdp drops these tables too: nothing left to unregister
    IF pg_catalog.to_regclass('cdp.sources') IS NULL OR pg_catalog.to_regclass('cdp.transaction_sources') IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM cdp.transaction_sources t WHERE t.source_table::oid OPERATOR(pg_catalog.=) ANY (dropped);
    DELETE FROM cdp.event_sources e WHERE e.source_table::oid OPERATOR(pg_catalog.=) ANY (dropped);
    DELETE FROM cdp.sources s WHERE s.source_table::oid OPERATOR(pg_catalog.=) ANY (dropped);
END
$$;
REVOKE ALL ON FUNCTION cdp._on_sql_drop() FROM PUBLIC;
CREATE EVENT TRIGGER cdp_source_dropped ON sql_drop EXECUTE FUNCTION cdp._on_sql_drop();

-- A partition created, attached or detached below a source (or an inheritance child added or
-- removed) gets or loses the capture triggers, and rows that came or went that way are re-synced
-- (cdp._recapture). SECURITY DEFINER like _on_sql_drop, and returns at once unless a table below
-- a registered source is touched; it never fails the DDL: a problem is a WARNING. Not while
-- check_function_bodies is off, as during a restore.
CREATE FUNCTION cdp._on_ddl_end()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    touched oid[];
    sid     integer;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT c.objid) INTO touched
      FROM pg_catalog.pg_event_trigger_ddl_commands() c
     WHERE c.object_type OPERATOR(pg_catalog.=) 'table' AND c.objid OPERATOR(pg_catalog.>=) 16384;
    IF touched IS NULL OR pg_catalog.to_regclass('cdp.sources') IS NULL THEN
        RETURN;
    END IF;
    -- A restore (pg_dump's scripts and pg_restore turn check_function_bodies off) brings the
    -- capture triggers back itself, after the tables' constraints: adding them here first would
    -- make its CREATE TRIGGER fail.
    IF NOT pg_catalog.current_setting('check_function_bodies')::boolean THEN
        RETURN;
    END IF;
    FOR sid IN
        WITH RECURSIVE up(relid) AS (      -- the touched tables and everything above them
            SELECT pg_catalog.unnest(touched)
            UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.relid)
        SELECT s.source_id FROM cdp.sources s JOIN up ON up.relid OPERATOR(pg_catalog.=) s.source_table::oid
        UNION   -- tables that carried a source's triggers (an inheritance child removed)
        SELECT pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\000', 1)::integer
          FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid OPERATOR(pg_catalog.=) ANY (touched)
           AND t.tgfoid OPERATOR(pg_catalog.=) 'cdp._capture_changes()'::regprocedure
    LOOP
        BEGIN
            PERFORM cdp._recapture(sid);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_cdp: could not update the capture triggers of source % (SQLSTATE %)', sid, SQLSTATE
                  USING HINT = 'cdp.drop_source and cdp.add_source register it again';
        END;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION cdp._on_ddl_end() FROM PUBLIC;
CREATE EVENT TRIGGER cdp_source_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION cdp._on_ddl_end();

-- ---------------------------------------------------------------------------------------------
-- Identity resolution
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION cdp.resolve(reestimate boolean DEFAULT false)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._resolve(reestimate) $$;
COMMENT ON FUNCTION cdp.resolve(boolean) IS
'Resolve every synced record into unified profiles with stable ids. Uses the newest model in cdp.model (estimating one the first time, or when reestimate is true). Returns a summary; progress as NOTICE lines.';

CREATE FUNCTION cdp.resolve_changes(max_records integer DEFAULT 10000, wait boolean DEFAULT true)
RETURNS jsonb
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off   -- many short index look-ups: compiling them costs more than it saves
AS $$ SELECT cdp._resolve_changes(max_records, wait) $$;
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
    IF NOT EXISTS (SELECT 1 FROM cdp.model) THEN
        RETURN '{"skipped": "no model yet"}'::jsonb;
    END IF;
    RETURN cdp._resolve_changes(max_records, false);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    -- no usable model (one of another shape): only a full cdp.resolve() can make one
    RETURN '{"skipped": "no usable model"}'::jsonb;
WHEN OTHERS THEN
    RETURN pg_catalog.jsonb_build_object('failed', SQLSTATE);
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
                        'evidence', (SELECT pg_catalog.jsonb_object_agg(f.field, f.levels[e.levels[f.position] OPERATOR(pg_catalog.+) 1])
                                       FROM cdp.match_fields() f WHERE e.levels[f.position] IS NOT NULL))
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

CREATE FUNCTION cdp.force_link(record_a bigint, record_b bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
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
       AND l.kind OPERATOR(pg_catalog.=) 'cannot_link';
    INSERT INTO cdp.manual_links (source_a, key_a, source_b, key_b, kind, created_by)
    SELECT p.source_a, p.key_a, p.source_b, p.key_b, 'force_link', cdp._acting_role()
      FROM cdp._row_pair(record_a, record_b) p
    ON CONFLICT DO NOTHING;
    -- the next incremental run (the worker's) re-clusters both profiles
    UPDATE cdp.records r SET resolve_pending = true
     WHERE r.record_id OPERATOR(pg_catalog.=) ANY (ARRAY[record_a, record_b]) AND NOT r.resolve_pending;
    RETURN true;
END
$$;
COMMENT ON FUNCTION cdp.force_link(bigint, bigint) IS
'Steward decision: these two records are one person. Kept across runs; applied by the next cdp.resolve() or cdp.resolve_changes() (the two records are marked pending).';

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
    RETURN n;
END
$$;
COMMENT ON FUNCTION cdp.force_split(bigint) IS
'Steward decision: this record is not the person of its current profile (cannot-link to each other member). Kept across runs; applied by the next cdp.resolve() or cdp.resolve_changes() (the record is marked pending). Returns the number of cannot-link pairs added.';

-- ---------------------------------------------------------------------------------------------
-- Customer value: transactions and RFM
-- ---------------------------------------------------------------------------------------------
-- cdp._check_activity_table (src/api/sources.rs) makes the checks the two registering functions
-- share, as cdp.add_source makes its own: both run as pg_cdp's owner, so the acting role's rights
-- are checked.

-- The type of a column, for the checks of the registering functions.
CREATE FUNCTION cdp._column_type(source_table regclass, col name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) source_table::oid AND a.attname OPERATOR(pg_catalog.=) col $$;

CREATE FUNCTION cdp.add_transaction_source(
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
                                                ARRAY[amount_column, occurred_at_column, currency_column]);
    typ    text;
    id     integer;
BEGIN
    typ := cdp._column_type(source_table, amount_column);
    IF typ NOT IN ('numeric', 'integer', 'bigint', 'smallint', 'real', 'double precision', 'money') THEN
        RAISE EXCEPTION 'amount column "%" of % is %, not a number', amount_column, source_table, typ USING ERRCODE = '42804';
    END IF;
    typ := cdp._column_type(source_table, occurred_at_column);
    IF typ NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
        RAISE EXCEPTION 'occurred_at column "%" of % is %, not a timestamp or date', occurred_at_column, source_table, typ USING ERRCODE = '42804';
    END IF;
    INSERT INTO cdp.transaction_sources (source_table, customer_source_id, customer_key_column, amount_column,
                                         occurred_at_column, currency_column, channel, registered_by)
    VALUES (source_table, csid, customer_key_column, amount_column, occurred_at_column, currency_column, channel,
            cdp._acting_role()::regrole)
    RETURNING tsource_id INTO id;
    PERFORM cdp._activity_triggers(source_table, csid, customer_key_column);
    RETURN id;
END
$$;
COMMENT ON FUNCTION cdp.add_transaction_source(regclass, regclass, name, name, name, text, name) IS
'Register an order table: each row is attributed to the profile of the customer source row whose key is in customer_key_column. A table is captured: the worker keeps its customers'' traits current.';

-- Unregister an order table (kind orders) or a behaviour event table (kind events).
CREATE FUNCTION cdp._drop_activity_source(source_table regclass, kind text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
BEGIN
    IF kind OPERATOR(pg_catalog.=) 'orders' THEN
        DELETE FROM cdp.transaction_sources t WHERE t.source_table OPERATOR(pg_catalog.=) source_table;
    ELSE
        DELETE FROM cdp.event_sources e WHERE e.source_table OPERATOR(pg_catalog.=) source_table;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION '% is not a registered % source', source_table, CASE kind WHEN 'orders' THEN 'transaction' ELSE 'event' END
              USING ERRCODE = '42704',
              HINT = pg_catalog.format('SELECT source_table FROM cdp.%s lists them', CASE kind WHEN 'orders' THEN 'transaction_sources' ELSE 'event_sources' END);
    END IF;
    RETURN true;
END
$$;

CREATE FUNCTION cdp.drop_transaction_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._drop_activity_source(source_table, 'orders') $$;
COMMENT ON FUNCTION cdp.drop_transaction_source(regclass) IS
'Unregister an order table (dropping the table unregisters it too). Its capture triggers are removed; the table is untouched.';

CREATE FUNCTION cdp.add_event_source(
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
                                                ARRAY[event_type_column, occurred_at_column]);
    typ    text;
    id     integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) a.atttypid
                    WHERE a.attrelid OPERATOR(pg_catalog.=) source_table::oid AND a.attname OPERATOR(pg_catalog.=) event_type_column
                      AND (y.typcategory OPERATOR(pg_catalog.=) 'S' OR y.typtype OPERATOR(pg_catalog.=) 'e')) THEN
        RAISE EXCEPTION 'event type column "%" of % is %, not text or an enum', event_type_column, source_table,
              cdp._column_type(source_table, event_type_column) USING ERRCODE = '42804';
    END IF;
    typ := cdp._column_type(source_table, occurred_at_column);
    IF typ NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
        RAISE EXCEPTION 'occurred_at column "%" of % is %, not a timestamp or date', occurred_at_column, source_table, typ USING ERRCODE = '42804';
    END IF;
    INSERT INTO cdp.event_sources (source_table, customer_source_id, customer_key_column, event_type_column,
                                   occurred_at_column, channel, registered_by)
    VALUES (source_table, csid, customer_key_column, event_type_column, occurred_at_column, channel, cdp._acting_role()::regrole)
    RETURNING esource_id INTO id;
    PERFORM cdp._activity_triggers(source_table, csid, customer_key_column);
    -- the customers who already have events get their event traits at the worker's next step
    INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
    RETURN id;
END
$$;
COMMENT ON FUNCTION cdp.add_event_source(regclass, regclass, name, name, name, text) IS
'Register a table of behaviour events (page views, add-to-cart, app opens): each row belongs to the profile of the customer source row whose key is in customer_key_column. Event traits (cdp.define_trait(..., over => ''events'')) aggregate them; a table is captured, so the worker keeps those traits current.';

CREATE FUNCTION cdp.drop_event_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._drop_activity_source(source_table, 'events') $$;
COMMENT ON FUNCTION cdp.drop_event_source(regclass) IS
'Unregister a behaviour event table (dropping the table unregisters it too). Its capture triggers are removed; the table is untouched.';

-- Capture on order and event tables, built like cdp._capture_changes (owned by cdp_capture,
-- whose only other right is appending to cdp.activity_queue; never fails the application's
-- write): it queues the customer keys of the changed rows, never their contents. A TRUNCATE, a
-- key column gone or a failure queues the whole customer source instead.
CREATE FUNCTION cdp._capture_activity()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET DateStyle = 'ISO, YMD'
SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    csid   integer := TG_ARGV[0]::integer;
    keynum smallint := TG_ARGV[1]::smallint;
    keycol name;
BEGIN
    SELECT a.attname INTO keycol FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.=) keynum AND NOT a.attisdropped;
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' OR keycol IS NULL THEN
        INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
        RETURN NULL;
    END IF;
    BEGIN
        -- (many orders or events of one customer in one statement: each customer once)
        EXECUTE pg_catalog.format('INSERT INTO cdp.activity_queue (customer_source_id, source_key) SELECT $1, u.k FROM (%s) u(k)',
                                  cdp._changed_keys_sql(TG_OP, keycol, true)) USING csid;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
        RAISE WARNING 'pg_cdp: could not queue the customers of the changed rows of % (SQLSTATE %); all their traits are refreshed',
              TG_RELID::regclass, SQLSTATE;
    END;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cdp._capture_activity() FROM PUBLIC;
ALTER FUNCTION cdp._capture_activity() OWNER TO cdp_capture;

-- The capture triggers of an order or event table (a view has none: it is read whole by
-- cdp.compute_traits). Statement triggers with transition tables, ENABLE ALWAYS (logical
-- replication's writes are captured too); on a partitioned table they see the rows written
-- through it. make => false removes them.
CREATE FUNCTION cdp._activity_triggers(source_table regclass, csid integer, keycol name, make boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keynum smallint;
    op     text;
BEGIN
    IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) source_table::oid) NOT IN ('r', 'p') THEN
        RETURN;
    END IF;
    FOR op IN SELECT g.tgname FROM pg_catalog.pg_trigger g
               WHERE g.tgrelid OPERATOR(pg_catalog.=) source_table::oid AND g.tgname OPERATOR(pg_catalog.~) '^cdp_activity_' LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', op, source_table);
    END LOOP;
    IF NOT make THEN
        RETURN;
    END IF;
    SELECT a.attnum INTO keynum FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) source_table::oid AND a.attname OPERATOR(pg_catalog.=) keycol AND NOT a.attisdropped;
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS cdp_new
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS cdp_old NEW TABLE AS cdp_new
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS cdp_old
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_truncate AFTER TRUNCATE ON %s
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', source_table, 'cdp_activity_' OPERATOR(pg_catalog.||) op);
    END LOOP;
END
$$;

-- An order or event table unregistered (by its drop function, its customer source going, or
-- the table dropped) loses its capture triggers, and its customers' traits are refreshed.
CREATE FUNCTION cdp._activity_source_deleted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) OLD.source_table::oid) THEN
        PERFORM cdp._activity_triggers(OLD.source_table, OLD.customer_source_id, OLD.customer_key_column, false);
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.sources s WHERE s.source_id OPERATOR(pg_catalog.=) OLD.customer_source_id) THEN
        INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (OLD.customer_source_id, NULL);
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER activity_source_deleted AFTER DELETE ON cdp.transaction_sources
    FOR EACH ROW EXECUTE FUNCTION cdp._activity_source_deleted();
CREATE TRIGGER activity_source_deleted AFTER DELETE ON cdp.event_sources
    FOR EACH ROW EXECUTE FUNCTION cdp._activity_source_deleted();

-- The SQL text of every transaction row with its profile, one SELECT per transaction source
-- joined by UNION ALL; $1 is the as-of time. With usable_only the rows that cannot be used are
-- filtered out by plain WHERE and an inner join, so the planner can hash-join and aggregate the
-- orders in one pass (no set-returning function in between); otherwise issue says why a row is
-- kept aside. The one definition behind cdp.transactions, compute_rfm, clv_summary and
-- compute_traits. With staged, the rows are read from the stage the worker filled as the order
-- tables' owners (cdp._stage_activity) instead of from the tables.
CREATE FUNCTION cdp._transactions_sql(usable_only boolean, staged boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t       cdp.transaction_sources;
    parts   text[] := '{}';
    convert boolean := EXISTS (SELECT 1 FROM cdp.currency_rates);
    cur     text;
    joins   text := CASE WHEN usable_only THEN 'JOIN' ELSE 'LEFT JOIN' END;
    rel     text;
BEGIN
    FOR t IN SELECT * FROM cdp.transaction_sources ORDER BY tsource_id LOOP
        rel := t.source_table::text;
        IF staged THEN
            -- the stage's columns under the registered names
            rel := pg_catalog.format('(SELECT s.source_key AS %I, s.amount AS %I, s.occurred_at AS %I, s.currency AS %I
                                         FROM pg_temp.cdp_stage_orders s WHERE s.tsource_id OPERATOR(pg_catalog.=) %s)',
                                     t.customer_key_column, t.amount_column, t.occurred_at_column,
                                     COALESCE(t.currency_column, 'currency'), t.tsource_id);
        END IF;
        cur := CASE WHEN t.currency_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('x.%I::text', t.currency_column) END;
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
            'SELECT %1$s::integer AS tsource_id, r.profile_id, %10$s AS amount,
                    x.%4$I::timestamptz AS occurred_at, %5$s AS currency, %8$s AS issue
               FROM %2$s x %12$s cdp.records r ON r.source_id OPERATOR(pg_catalog.=) %6$s
                                      AND r.source_key OPERATOR(pg_catalog.=) x.%7$I::text %11$s %9$s',
            t.tsource_id, rel, t.amount_column, t.occurred_at_column, cur,
            t.customer_source_id, t.customer_key_column,
            CASE WHEN usable_only THEN 'NULL::text' ELSE pg_catalog.format(
                'CASE WHEN x.%1$I IS NULL THEN ''null_amount''
                      WHEN x.%2$I IS NULL THEN ''null_timestamp''
                      WHEN x.%2$I::timestamptz OPERATOR(pg_catalog.>) $1 THEN ''future_timestamp''
                      WHEN r.record_id IS NULL THEN ''unknown_customer''
                      WHEN r.profile_id IS NULL THEN ''customer_not_resolved''
                      %3$s END',
                t.amount_column, t.occurred_at_column,
                CASE WHEN convert THEN 'WHEN cr.rate IS NULL THEN ''unknown_currency''' ELSE '' END) END,
            CASE WHEN usable_only THEN pg_catalog.format(
                'WHERE x.%1$I IS NOT NULL AND x.%2$I::timestamptz OPERATOR(pg_catalog.<=) $1 AND r.profile_id IS NOT NULL',
                t.amount_column, t.occurred_at_column) ELSE '' END,
            -- with rates, amounts are converted, and an order in a currency without a rate is kept aside
            CASE WHEN convert THEN pg_catalog.format('(x.%I::numeric OPERATOR(pg_catalog.*) cr.rate)', t.amount_column)
                 ELSE pg_catalog.format('x.%I::numeric', t.amount_column) END,
            CASE WHEN convert THEN pg_catalog.format('%s cdp.currency_rates cr ON cr.currency OPERATOR(pg_catalog.=) %s', joins, cur)
                 ELSE '' END,
            joins);
    END LOOP;
    IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
        RETURN 'SELECT NULL::integer AS tsource_id, NULL::bigint AS profile_id, NULL::numeric AS amount,
                       NULL::timestamptz AS occurred_at, NULL::text AS currency, NULL::text AS issue WHERE false';
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

-- Refuse to add up amounts in several currencies: without rates in cdp.currency_rates the
-- orders must all be in one currency; with rates, every currency seen must have one (0A000).
CREATE FUNCTION cdp._check_currencies(staged boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t          cdp.transaction_sources;
    seen       text[];
    currencies text[] := '{}';
    missing    text;
    convert    boolean := EXISTS (SELECT 1 FROM cdp.currency_rates);
BEGIN
    -- one hashed DISTINCT per order table, straight from the orders
    FOR t IN SELECT * FROM cdp.transaction_sources WHERE currency_column IS NOT NULL ORDER BY tsource_id LOOP
        IF staged THEN
            SELECT pg_catalog.array_agg(DISTINCT x.currency) INTO seen FROM pg_temp.cdp_stage_orders x
             WHERE x.tsource_id OPERATOR(pg_catalog.=) t.tsource_id AND x.currency IS NOT NULL;
        ELSE
            EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(d.c) FROM (SELECT DISTINCT x.%I::text AS c FROM %s x WHERE x.%I IS NOT NULL) d',
                                      t.currency_column, t.source_table, t.currency_column) INTO seen;
        END IF;
        currencies := currencies OPERATOR(pg_catalog.||) COALESCE(seen, '{}');
    END LOOP;
    IF convert THEN
        -- converting needs every order's currency: a source without a currency column would
        -- drop out of every figure
        SELECT pg_catalog.string_agg(t2.source_table::text, ', ' ORDER BY t2.tsource_id) INTO missing
          FROM cdp.transaction_sources t2 WHERE t2.currency_column IS NULL;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'amounts are converted by cdp.currency_rates, but % has no currency column', missing
                  USING ERRCODE = '0A000',
                  HINT = 'register it with currency_column (a view can add a constant currency), or empty cdp.currency_rates';
        END IF;
        SELECT pg_catalog.string_agg(DISTINCT c, ', ' ORDER BY c) INTO missing
          FROM pg_catalog.unnest(currencies) c
         WHERE NOT EXISTS (SELECT 1 FROM cdp.currency_rates r WHERE r.currency OPERATOR(pg_catalog.=) c);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'no conversion rate for the currencies %', missing USING ERRCODE = '0A000',
                  HINT = 'add them to cdp.currency_rates (amount × rate = amount in the reporting currency)';
        END IF;
    ELSE
        SELECT pg_catalog.string_agg(DISTINCT c, ', ' ORDER BY c) INTO missing FROM pg_catalog.unnest(currencies) c
        HAVING pg_catalog.count(DISTINCT c) OPERATOR(pg_catalog.>) 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'transactions are in several currencies (%)', missing USING ERRCODE = '0A000',
                  HINT = 'give each currency a rate in cdp.currency_rates, or register a view that converts the amounts as the transaction source';
        END IF;
    END IF;
END
$$;

-- Every transaction row with its profile and, when it cannot be used, the reason.
CREATE FUNCTION cdp.transactions(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (tsource_id integer, profile_id bigint, amount numeric, occurred_at timestamptz, currency text, issue text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE cdp._transactions_sql(false) USING as_of;
END
$$;
COMMENT ON FUNCTION cdp.transactions(timestamptz) IS
'All registered transaction rows with their profile; amount converted by cdp.currency_rates when it has rows; issue says why a row cannot be used (null_amount, null_timestamp, future_timestamp, unknown_customer, customer_not_resolved, unknown_currency).';

CREATE VIEW cdp.transaction_report AS
SELECT s.source_table, COALESCE(x.issue, CASE WHEN x.amount OPERATOR(pg_catalog.<) 0 THEN 'refund' ELSE 'ok' END) AS status,
       pg_catalog.count(*) AS transactions
  FROM cdp.transactions() x JOIN cdp.transaction_sources s USING (tsource_id)
 GROUP BY 1, 2;
COMMENT ON VIEW cdp.transaction_report IS 'Transactions per source and status: ok, refund, or the reason a row is kept aside.';

CREATE VIEW cdp.rfm_segments AS SELECT * FROM cdp._rfm_segments();
COMMENT ON VIEW cdp.rfm_segments IS 'The R×F segment map in force (cdp.rfm_segment_map, or the standard map when it is empty).';

-- RFM per profile: recency in days since the last order, frequency = orders (refunds excluded),
-- monetary = net spend (refunds subtract), within the window before as_of; R, F, M scored 1-5 by
-- quintile (equal values share a score) or by the fixed thresholds of the cdp.rfm_*_thresholds
-- settings, the cell "RFM" and the named R×F segment.
CREATE FUNCTION cdp.compute_rfm(as_of timestamptz DEFAULT pg_catalog.now(), "window" interval DEFAULT '2 years')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF "window" IS NULL OR "window" OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'window must be a positive interval, not %', "window" USING ERRCODE = '22023';
    END IF;
    PERFORM cdp._check_currencies();
    DELETE FROM cdp.rfm;
    EXECUTE pg_catalog.format($q$
    WITH a AS MATERIALIZED (
        SELECT x.profile_id,
               pg_catalog.floor(EXTRACT(epoch FROM $1 OPERATOR(pg_catalog.-) pg_catalog.max(x.occurred_at)) OPERATOR(pg_catalog./) 86400)::integer AS recency_days,
               (pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0))::integer AS frequency,
               pg_catalog.sum(x.amount) AS monetary_total
          FROM (%s) x
         WHERE x.occurred_at OPERATOR(pg_catalog.>) ($1 OPERATOR(pg_catalog.-) $2)
         GROUP BY x.profile_id
    ), scores AS (
        -- the arrays of one aggregate pass list the rows in the same order; scores do not
        -- depend on that order (equal values share a score), so no sort is needed
        SELECT q.*
          FROM (SELECT pg_catalog.array_agg(a.profile_id) AS ids,
                       pg_catalog.array_agg(a.recency_days::float8) AS rec,
                       pg_catalog.array_agg(a.frequency::float8) AS frq,
                       pg_catalog.array_agg(a.monetary_total::float8) AS mon
                  FROM a) z,
               LATERAL cdp._rfm_scores(COALESCE(z.ids, '{}'), COALESCE(z.rec, '{}'),
                                       COALESCE(z.frq, '{}'), COALESCE(z.mon, '{}')) q
    )
    INSERT INTO cdp.rfm (profile_id, recency_days, frequency, monetary_total, monetary_avg,
                         r_score, f_score, m_score, rfm_cell, segment, as_of)
    SELECT a.profile_id, a.recency_days, a.frequency, a.monetary_total,
           pg_catalog.round(a.monetary_total OPERATOR(pg_catalog./) NULLIF(a.frequency, 0), 2),
           s.r_score, s.f_score, s.m_score, s.rfm_cell, s.segment, $1
      FROM a JOIN scores s ON s.profile_id OPERATOR(pg_catalog.=) a.profile_id
    $q$, cdp._transactions_sql(true)) USING as_of, "window";
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION cdp.compute_rfm(timestamptz, interval) IS
'Compute cdp.rfm for every profile with orders in the window before as_of. Refuses mixed currencies (0A000). Returns the number of profiles scored.';

-- R x F counts and average monetary, every cell present: ready for a heatmap.
CREATE FUNCTION cdp.rfm_grid()
RETURNS TABLE (r_score smallint, f_score smallint, profiles bigint, avg_monetary numeric, segment text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r::smallint, f::smallint, pg_catalog.count(x.profile_id), pg_catalog.round(pg_catalog.avg(x.monetary_total), 2),
           (SELECT s.segment FROM cdp.rfm_segments s
             WHERE r BETWEEN s.r_min AND s.r_max AND f BETWEEN s.f_min AND s.f_max LIMIT 1)
      FROM pg_catalog.generate_series(1, 5) r
     CROSS JOIN pg_catalog.generate_series(1, 5) f
      LEFT JOIN cdp.rfm x ON x.r_score OPERATOR(pg_catalog.=) r AND x.f_score OPERATOR(pg_catalog.=) f
     GROUP BY r, f ORDER BY r DESC, f
$$;
COMMENT ON FUNCTION cdp.rfm_grid() IS 'R x F profile counts and average monetary, 25 cells, for a heatmap.';

-- Per-profile purchase summary in the BG/NBD conventions (as lifetimes' summary_data_from_transaction_data,
-- in days): purchases are the days with an order of a positive amount; frequency = repeat purchase days,
-- recency = first to last purchase day, t = first purchase day to as_of, monetary_value = mean
-- spend of the repeat purchase days (0 without repeats). orders and historical_value (net of
-- refunds) come from the same single pass over the orders.
CREATE FUNCTION cdp.clv_summary(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (profile_id bigint, frequency double precision, recency double precision, t double precision,
               monetary_value double precision, orders integer, historical_value numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM cdp._check_currencies();
    -- one pass over the orders into three arrays, grouped by (profile, day) in Rust: a GROUP BY
    -- over nearly as many (profile, day) groups as orders spills to disk at this size (an array
    -- holds at most 134M elements: the limit on usable orders)
    RETURN QUERY EXECUTE pg_catalog.format($q$
    SELECT s.profile_id, s.frequency, s.recency, s.t, s.monetary_value, s.orders,
           -- summed as float8 and rounded back to the largest scale of the amounts: exact while
           -- the total has at most 15 significant digits (cents up to about 10^12)
           pg_catalog.round(s.historical_value::numeric, COALESCE(z.sc, 0))
      FROM (SELECT pg_catalog.array_agg(x.profile_id) AS p,
                   pg_catalog.array_agg(pg_catalog.date_part('epoch', pg_catalog.date_trunc('day', x.occurred_at))) AS d,
                   pg_catalog.array_agg(x.amount::float8) AS a,
                   pg_catalog.max(pg_catalog.scale(x.amount)) AS sc
              FROM (%s) x) z,
           LATERAL cdp._clv_summary(COALESCE(z.p, '{}'), COALESCE(z.d, '{}'), COALESCE(z.a, '{}'),
                                    pg_catalog.date_part('epoch', $1)) s
    $q$, cdp._transactions_sql(true)) USING as_of;
END
$$;
COMMENT ON FUNCTION cdp.clv_summary(timestamptz) IS
'Per profile with at least one purchase: frequency (repeat purchase days), recency (first to last purchase, days), t (first purchase to as_of, days), monetary_value (mean spend of the repeat purchases), orders (purchase days) and historical_value (net of refunds): the input of the BG/NBD and Gamma-Gamma fit.';

-- Lifetime value per profile: historical (net spend so far, refunds subtracted) and predicted over the horizon by
-- BG/NBD (purchase count, P(alive)) and Gamma-Gamma (spend per order), fitted by maximum
-- likelihood over all profiles with orders (cdp.clv_summary).
CREATE FUNCTION cdp.compute_clv(as_of timestamptz DEFAULT pg_catalog.now(), horizon interval DEFAULT '1 year',
                                annual_discount double precision DEFAULT 0.1)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM cdp.clv;
    CREATE TEMP TABLE cdp_clv_summary ON COMMIT DROP AS SELECT * FROM cdp.clv_summary(as_of);
    WITH fit AS (
        -- one aggregate pass: the arrays list the customers in the same order
        SELECT f.*
          FROM (SELECT pg_catalog.array_agg(p.profile_id) AS ids,
                       pg_catalog.array_agg(p.frequency) AS xs,
                       pg_catalog.array_agg(p.recency) AS txs,
                       pg_catalog.array_agg(p.t) AS ts,
                       pg_catalog.array_agg(p.monetary_value) AS ms
                  FROM pg_temp.cdp_clv_summary p) z,
               LATERAL cdp._clv_fit(COALESCE(z.ids, '{}'), COALESCE(z.xs, '{}'), COALESCE(z.txs, '{}'),
                                    COALESCE(z.ts, '{}'), COALESCE(z.ms, '{}'),
                                    EXTRACT(epoch FROM horizon)::float8 OPERATOR(pg_catalog./) 86400, annual_discount) f
    )
    INSERT INTO cdp.clv (profile_id, orders, historical_value, p_alive, expected_purchases, expected_spend, predicted_clv, as_of)
    SELECT p.profile_id, p.orders, p.historical_value, f.p_alive, f.expected_purchases, f.expected_spend, f.clv, as_of
      FROM pg_temp.cdp_clv_summary p JOIN fit f ON f.profile_id OPERATOR(pg_catalog.=) p.profile_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE pg_temp.cdp_clv_summary;
    RETURN (SELECT pg_catalog.jsonb_build_object('profiles', n, 'model_id', m.model_id, 'converged', m.converged, 'params', m.params)
              FROM cdp.clv_model m ORDER BY m.model_id DESC LIMIT 1);
END
$$;
COMMENT ON FUNCTION cdp.compute_clv(timestamptz, interval, double precision) IS
'Fit BG/NBD and Gamma-Gamma over all profiles with orders (stored in cdp.clv_model) and write cdp.clv: historical value, P(alive), expected purchases, expected spend per order and discounted predicted CLV over the horizon.';

-- Where a customer key of an order or event table is one of the keys in $1 (text[]), written so
-- an index on the column serves it: integer and uuid keys compare as their own type (a text that
-- is not such a key cannot match and is left out, never cast into an error).
CREATE FUNCTION cdp._key_filter(source_table regclass, keycol name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN t IN ('smallint', 'integer', 'bigint') THEN pg_catalog.format(
                    'x.%I OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT k::pg_catalog.int8 FROM pg_catalog.unnest($1) k
                                                          WHERE k OPERATOR(pg_catalog.~) ''^-?[0-9]{1,18}$''))', keycol)
                WHEN t OPERATOR(pg_catalog.=) 'uuid' THEN pg_catalog.format(
                    'x.%I OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT k::pg_catalog.uuid FROM pg_catalog.unnest($1) k
                                                          WHERE k OPERATOR(pg_catalog.~*) ''^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$''))', keycol)
                ELSE pg_catalog.format('x.%I::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)', keycol) END
      FROM (SELECT cdp._column_type(source_table, keycol) AS t) z
$$;

-- The worker's read of the orders and events of the profiles in ids (NULL: of everyone) into the
-- session's stage tables, each table read as its owner (cdp._stage_as_owner), after checking
-- that the role that registered it may still read it (42501).
CREATE FUNCTION cdp._stage_activity(ids bigint[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t    record;
    keys text[];
BEGIN
    IF pg_catalog.to_regclass('pg_temp.cdp_stage_orders') IS NULL THEN
        CREATE TEMP TABLE cdp_stage_orders (tsource_id integer, source_key text, amount numeric, occurred_at timestamptz, currency text)
            ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE cdp_stage_events (esource_id integer, source_key text, event_type text, occurred_at timestamptz)
            ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE pg_temp.cdp_stage_orders, pg_temp.cdp_stage_events;
    FOR t IN SELECT 'orders' AS kind, o.tsource_id AS id, o.source_table, o.customer_source_id, o.customer_key_column AS keycol,
                    pg_catalog.format('x.%I::numeric, x.%I::timestamptz, %s', o.amount_column, o.occurred_at_column,
                        CASE WHEN o.currency_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('x.%I::text', o.currency_column) END) AS cols,
                    o.registered_by
               FROM cdp.transaction_sources o
             UNION ALL
             SELECT 'events', e.esource_id, e.source_table, e.customer_source_id, e.customer_key_column,
                    pg_catalog.format('x.%I::text, x.%I::timestamptz', e.event_type_column, e.occurred_at_column), e.registered_by
               FROM cdp.event_sources e
             ORDER BY 1, 2 LOOP
        IF NOT pg_catalog.has_table_privilege(t.registered_by, t.source_table, 'SELECT') THEN
            RAISE EXCEPTION 'role % that registered % may no longer read it', t.registered_by, t.source_table USING ERRCODE = '42501',
                  HINT = 'grant it SELECT again, or unregister the table';
        END IF;
        keys := NULL;
        IF ids IS NOT NULL THEN
            SELECT pg_catalog.array_agg(r.source_key) INTO keys FROM cdp.records r
             WHERE r.source_id OPERATOR(pg_catalog.=) t.customer_source_id AND r.profile_id OPERATOR(pg_catalog.=) ANY (ids);
            CONTINUE WHEN keys IS NULL;
        END IF;
        PERFORM cdp._stage_as_owner(t.source_table, 'pg_temp.cdp_stage_' OPERATOR(pg_catalog.||) t.kind,
                    pg_catalog.format('SELECT %s, x.%I::text, %s FROM %s x%s', t.id, t.keycol, t.cols, t.source_table,
                                      CASE WHEN ids IS NULL THEN '' ELSE ' WHERE ' OPERATOR(pg_catalog.||) cdp._key_filter(t.source_table, t.keycol) END),
                    keys);
    END LOOP;
END
$$;

-- The SQL text of every usable behaviour event with its profile ($1: the as-of time; an event
-- later than it is left out), one SELECT per event source, read from the tables or (staged) from
-- the worker's stage.
CREATE FUNCTION cdp._events_sql(staged boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e     cdp.event_sources;
    parts text[] := '{}';
    rel   text;
BEGIN
    FOR e IN SELECT * FROM cdp.event_sources ORDER BY esource_id LOOP
        rel := e.source_table::text;
        IF staged THEN
            rel := pg_catalog.format('(SELECT s.source_key AS %I, s.event_type AS %I, s.occurred_at AS %I
                                         FROM pg_temp.cdp_stage_events s WHERE s.esource_id OPERATOR(pg_catalog.=) %s)',
                                     e.customer_key_column, e.event_type_column, e.occurred_at_column, e.esource_id);
        END IF;
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
            'SELECT %1$s::integer AS esource_id, r.profile_id, x.%3$I::text AS event_type,
                    x.%4$I::timestamptz AS occurred_at, %5$L::text AS channel
               FROM %2$s x JOIN cdp.records r ON r.source_id OPERATOR(pg_catalog.=) %6$s
                                      AND r.source_key OPERATOR(pg_catalog.=) x.%7$I::text
              WHERE x.%4$I IS NOT NULL AND x.%4$I::timestamptz OPERATOR(pg_catalog.<=) $1 AND r.profile_id IS NOT NULL',
            e.esource_id, rel, e.event_type_column, e.occurred_at_column, e.channel, e.customer_source_id, e.customer_key_column);
    END LOOP;
    IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
        RETURN 'SELECT NULL::integer AS esource_id, NULL::bigint AS profile_id, NULL::text AS event_type,
                       NULL::timestamptz AS occurred_at, NULL::text AS channel WHERE false';
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

-- Every behaviour event with its profile (usable rows: a timestamp not after as_of, a resolved
-- customer), read with the caller's rights.
CREATE FUNCTION cdp.behaviour_events(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (esource_id integer, profile_id bigint, event_type text, occurred_at timestamptz, channel text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE cdp._events_sql(false) USING as_of;
END
$$;
COMMENT ON FUNCTION cdp.behaviour_events(timestamptz) IS
'All registered behaviour events with their profile (events with a timestamp, not later than as_of, whose customer row is resolved).';

-- The traits of the profiles in ids (NULL: every profile) from their orders and events, in
-- cdp.profile_traits: read from the tables with the caller's rights (cdp.compute_traits) or from
-- the worker's stage. Built-in and custom traits, as of a time. The cluster labels stay.
CREATE FUNCTION cdp._write_traits(ids bigint[], as_of timestamptz, staged boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d cdp.trait_definitions;
BEGIN
    PERFORM cdp._check_currencies(staged);
    EXECUTE pg_catalog.format(
        'CREATE TEMP TABLE cdp_tx ON COMMIT DROP AS
         SELECT x.profile_id, x.amount, x.occurred_at, x.currency, x.tsource_id, s.channel
           FROM (%s) x JOIN cdp.transaction_sources s USING (tsource_id)
          WHERE $2 IS NULL OR x.profile_id OPERATOR(pg_catalog.=) ANY ($2)', cdp._transactions_sql(true, staged)) USING as_of, ids;
    EXECUTE pg_catalog.format(
        'CREATE TEMP TABLE cdp_ev ON COMMIT DROP AS
         SELECT x.* FROM (%s) x WHERE $2 IS NULL OR x.profile_id OPERATOR(pg_catalog.=) ANY ($2)', cdp._events_sql(staged)) USING as_of, ids;
    DELETE FROM cdp.profile_traits t
     WHERE t.trait OPERATOR(pg_catalog.<>) 'cluster' AND (ids IS NULL OR t.profile_id OPERATOR(pg_catalog.=) ANY (ids));
    INSERT INTO cdp.profile_traits (profile_id, trait, value, text_value)
    SELECT t.profile_id, v.trait, v.value, v.text_value
      FROM (SELECT x.profile_id,
                   EXTRACT(epoch FROM pg_catalog.min(x.occurred_at))::float8 AS first_seen,
                   EXTRACT(epoch FROM pg_catalog.max(x.occurred_at))::float8 AS last_seen,
                   (EXTRACT(epoch FROM as_of OPERATOR(pg_catalog.-) pg_catalog.max(x.occurred_at)) OPERATOR(pg_catalog./) 86400)::float8 AS days_since_last_order,
                   (EXTRACT(epoch FROM as_of OPERATOR(pg_catalog.-) pg_catalog.min(x.occurred_at)) OPERATOR(pg_catalog./) 86400)::float8 AS tenure_days,
                   (pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0))::float8 AS orders,
                   pg_catalog.sum(x.amount)::float8 AS revenue,
                   (pg_catalog.sum(x.amount) OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0), 0))::float8 AS average_order_value,
                   pg_catalog.mode() WITHIN GROUP (ORDER BY x.channel) AS preferred_channel
              FROM pg_temp.cdp_tx x GROUP BY x.profile_id) t
     CROSS JOIN LATERAL (VALUES
            ('first_seen', t.first_seen, NULL::text), ('last_seen', t.last_seen, NULL),
            ('days_since_last_order', t.days_since_last_order, NULL), ('tenure_days', t.tenure_days, NULL),
            ('orders', t.orders, NULL), ('revenue', t.revenue, NULL),
            ('average_order_value', t.average_order_value, NULL), ('preferred_channel', NULL, t.preferred_channel)) v(trait, value, text_value);
    -- orders and revenue per channel
    INSERT INTO cdp.profile_traits (profile_id, trait, value)
    SELECT x.profile_id, 'orders_' OPERATOR(pg_catalog.||) COALESCE(x.channel, 'unknown'),
           (pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0))::float8
      FROM pg_temp.cdp_tx x GROUP BY 1, 2
    UNION ALL
    SELECT x.profile_id, 'revenue_' OPERATOR(pg_catalog.||) COALESCE(x.channel, 'unknown'), pg_catalog.sum(x.amount)::float8
      FROM pg_temp.cdp_tx x GROUP BY 1, 2;
    -- custom traits, over the orders or over the events
    FOR d IN SELECT * FROM cdp.trait_definitions ORDER BY trait LOOP
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.profile_traits (profile_id, trait, value)
             SELECT x.profile_id, %L, (%s)::float8 FROM %s x GROUP BY x.profile_id',
            d.trait, cdp._check_trait_expression(d.expression, d.over),
            CASE d.over WHEN 'events' THEN 'pg_temp.cdp_ev' ELSE 'pg_temp.cdp_tx' END);
    END LOOP;
    DROP TABLE pg_temp.cdp_tx, pg_temp.cdp_ev;
END
$$;

-- Built-in and custom traits per profile from the orders and events (as of a time), in cdp.profile_traits.
CREATE FUNCTION cdp.compute_traits(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM cdp._write_traits(NULL, as_of, false);
    RETURN (SELECT pg_catalog.count(DISTINCT t.profile_id) FROM cdp.profile_traits t);
END
$$;
COMMENT ON FUNCTION cdp.compute_traits(timestamptz) IS
'Built-in traits (first_seen, last_seen, days_since_last_order, tenure_days, orders, revenue, average_order_value, preferred_channel, orders_<channel>, revenue_<channel>) and custom traits over orders and behaviour events per profile, in cdp.profile_traits. Returns the number of profiles. The worker keeps them current afterwards.';

-- The worker's step: refresh the traits of the profiles whose orders or events changed (queued
-- by the capture triggers) or that a resolve run created, changed or removed, reading only
-- their rows (each table as its owner). Traits are kept current once they are in use: computed
-- once by cdp.compute_traits, or read by a segment. More than 100,000 profiles at once is one
-- pass over everything.
CREATE FUNCTION cdp._worker_traits(max_profiles integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    ids  bigint[];
    whole boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.activity_queue) AND NOT EXISTS (SELECT 1 FROM cdp.trait_dirty) THEN
        RETURN '{"profiles": 0}'::jsonb;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.profile_traits) AND NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        DELETE FROM cdp.activity_queue;
        DELETE FROM cdp.trait_dirty;
        RETURN '{"profiles": 0, "traits_in_use": false}'::jsonb;
    END IF;
    -- the customers of changed orders and events, to their profiles (a customer row not resolved
    -- yet gets its traits when resolving creates or changes its profile)
    WITH q AS (DELETE FROM cdp.activity_queue q RETURNING q.customer_source_id, q.source_key),
    marked AS (
        INSERT INTO cdp.trait_dirty (profile_id)
        SELECT DISTINCT r.profile_id FROM q JOIN cdp.records r
            ON r.source_id OPERATOR(pg_catalog.=) q.customer_source_id AND r.source_key OPERATOR(pg_catalog.=) q.source_key
         WHERE r.profile_id IS NOT NULL
        RETURNING 1)
    SELECT COALESCE(pg_catalog.bool_or(q.source_key IS NULL), false) INTO whole FROM q;
    whole := whole OR (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp.trait_dirty LIMIT 100001) z) OPERATOR(pg_catalog.>) 100000;
    IF whole THEN
        DELETE FROM cdp.trait_dirty;
    ELSE
        WITH d AS (
            DELETE FROM cdp.trait_dirty x
             WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM cdp.trait_dirty y LIMIT max_profiles))
            RETURNING x.profile_id)
        SELECT pg_catalog.array_agg(DISTINCT d.profile_id) INTO ids FROM d;
        IF ids IS NULL THEN
            RETURN '{"profiles": 0}'::jsonb;
        END IF;
    END IF;
    PERFORM cdp._stage_activity(ids);
    PERFORM cdp._write_traits(ids, pg_catalog.now(), true);
    RETURN pg_catalog.jsonb_build_object('profiles', COALESCE(pg_catalog.cardinality(ids), -1), 'whole', whole,
                                         'more', EXISTS (SELECT 1 FROM cdp.trait_dirty));
END
$$;

-- A custom trait: an aggregate expression over a profile's orders (amount, occurred_at,
-- currency, tsource_id, channel) or over its behaviour events (over => 'events': event_type,
-- occurred_at, channel, esource_id), checked by cdp._check_trait_expression when defined (and
-- again at every computation): one expression of an allowed subset, so it can run nothing but
-- built-in functions over those columns.
CREATE FUNCTION cdp.define_trait(name text, expression text, over text DEFAULT 'orders')
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
    RETURN true;
END
$$;
COMMENT ON FUNCTION cdp.define_trait(text, text, text) IS
'Define (or redefine) a custom numeric trait as an aggregate SQL expression over a profile''s orders (over => ''orders'') or behaviour events (over => ''events''); computed by cdp.compute_traits and kept current by the worker.';

-- k-means over standardised numeric traits; labels stored as trait "cluster".
CREATE FUNCTION cdp.cluster_profiles(k integer, traits text[], seed bigint DEFAULT 42)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
    result  jsonb;
BEGIN
    IF traits IS NULL OR pg_catalog.cardinality(traits) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'name at least one numeric trait' USING ERRCODE = '22023';
    END IF;
    SELECT t INTO missing FROM pg_catalog.unnest(traits) t
     WHERE NOT EXISTS (SELECT 1 FROM cdp.profile_traits p WHERE p.trait OPERATOR(pg_catalog.=) t AND p.value IS NOT NULL) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'trait "%" has no numeric values', missing USING ERRCODE = '22023',
              HINT = 'run cdp.compute_traits() first; numeric traits: SELECT DISTINCT trait FROM cdp.profile_traits WHERE value IS NOT NULL';
    END IF;
    DELETE FROM cdp.profile_traits WHERE trait OPERATOR(pg_catalog.=) 'cluster';
    WITH rows AS (
        -- profiles with every requested trait (a missing one is no zero)
        SELECT p.profile_id, pg_catalog.array_agg(p.value ORDER BY pg_catalog.array_position(traits, p.trait)) AS v
          FROM cdp.profile_traits p
         WHERE p.trait OPERATOR(pg_catalog.=) ANY (traits) AND p.value IS NOT NULL
         GROUP BY p.profile_id
        HAVING pg_catalog.count(*) OPERATOR(pg_catalog.=) pg_catalog.cardinality(traits)
    ), km AS (
        SELECT f.* FROM (SELECT pg_catalog.array_agg(r.profile_id ORDER BY r.profile_id) AS ids,
                                pg_catalog.array_agg(pg_catalog.array_to_string(r.v, ',') ORDER BY r.profile_id) AS vs
                           FROM rows r) z,
               LATERAL cdp._kmeans(COALESCE(z.ids, '{}'), COALESCE(z.vs, '{}'), k, seed) f
    ), ins AS (
        INSERT INTO cdp.profile_traits (profile_id, trait, value)
        SELECT km.profile_id, 'cluster', km.label FROM km WHERE km.profile_id IS NOT NULL
        RETURNING 1
    )
    SELECT pg_catalog.jsonb_build_object('profiles', (SELECT pg_catalog.count(*) FROM ins),
                                         'k', k, 'traits', pg_catalog.to_jsonb(traits),
                                         'inertia', (SELECT pg_catalog.max(km.inertia) FROM km),
                                         'iterations', (SELECT pg_catalog.max(km.iterations) FROM km))
      INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION cdp.cluster_profiles(integer, text[], bigint) IS
'k-means (k-means++ start, deterministic seed) over the standardised numeric traits named; labels stored as trait "cluster"; returns inertia so k can be chosen (elbow).';

-- The analysts' view: one row per profile with its golden record, RFM and lifetime value.
CREATE VIEW cdp.customer_360 AS
SELECT p.profile_id,
       p.display OPERATOR(pg_catalog.->>) 'full_name' AS name,
       p.email, p.phone, p.birth_date, p.city, p.country,
       p.record_count, p.source_count,
       r.recency_days, r.frequency, r.monetary_total, r.r_score, r.f_score, r.m_score, r.rfm_cell, r.segment,
       c.orders, c.historical_value, c.p_alive, c.expected_purchases, c.predicted_clv,
       (SELECT pg_catalog.jsonb_object_agg(t.trait, COALESCE(pg_catalog.to_jsonb(t.value), pg_catalog.to_jsonb(t.text_value)))
          FROM cdp.profile_traits t WHERE t.profile_id OPERATOR(pg_catalog.=) p.profile_id) AS traits,
       p.created_at, p.updated_at
  FROM cdp.profiles p
  LEFT JOIN cdp.rfm r ON r.profile_id OPERATOR(pg_catalog.=) p.profile_id
  LEFT JOIN cdp.clv c ON c.profile_id OPERATOR(pg_catalog.=) p.profile_id;
COMMENT ON VIEW cdp.customer_360 IS 'Profile, golden record, RFM, lifetime value and traits in one row per person.';

-- ---------------------------------------------------------------------------------------------
-- Segments and events. A segment is a rule over one row per profile (cdp._segment_query checks
-- it and builds its member query); its members are kept in cdp.segment_members, and every change
-- of membership appends to cdp.segment_events (the outbox, the truth) in the same transaction,
-- announced by NOTIFY on channel cdp_segments with ids only. Only pg_cdp's own transactions write
-- events (refresh_segments, define/alter/drop_segment, the worker), each under one lock, so event
-- ids are handed out and committed in the same order: a consumer reading event_id > last_seen
-- never skips an event that commits later with a lower id.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE cdp.segments (
    segment_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (pg_catalog.length(name) BETWEEN 1 AND 100),
    rule            text NOT NULL,
    description     text,
    holdout_percent numeric NOT NULL DEFAULT 0 CHECK (holdout_percent >= 0 AND holdout_percent <= 100),
    reads_clock     boolean NOT NULL DEFAULT false,   -- the rule reads the clock (now(), days_since_last_order, tenure_days): kept current by due times
    due_through     timestamptz,                       -- cdp.segment_due holds when each profile's predicate next changes up to this time; then one whole evaluation
    failed_sqlstate text,                              -- the worker's last evaluation failed (e.g. a trait it names is gone): it is retried whole every cdp.segment_clock_interval
    defined_by      name NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    refreshed_at    timestamptz
);
COMMENT ON TABLE cdp.segments IS 'Rule-based segments (cdp.define_segment): a boolean rule over the columns of cdp.customer_360 and the traits, kept current by the worker.';

-- What now() means in a segment rule: the transaction time moved by cdp.clock_offset.
CREATE FUNCTION cdp._clock()
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.current_setting('cdp.clock_offset')::interval $$;

CREATE TABLE cdp.segment_members (
    segment    text NOT NULL REFERENCES cdp.segments (name) ON UPDATE CASCADE ON DELETE CASCADE,
    profile_id bigint NOT NULL,
    entered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    holdout    boolean NOT NULL,
    PRIMARY KEY (segment, profile_id)
);
CREATE INDEX segment_members_profile_idx ON cdp.segment_members (profile_id);

-- For a segment whose rule reads the clock: when its predicate next changes for a profile (to
-- within 30 s), up to the segment's due_through. The worker re-evaluates exactly the profiles
-- that are due, never all of them, until due_through.
CREATE TABLE cdp.segment_due (
    segment    text NOT NULL REFERENCES cdp.segments (name) ON UPDATE CASCADE ON DELETE CASCADE,
    profile_id bigint NOT NULL,
    due_at     timestamptz NOT NULL,
    PRIMARY KEY (segment, profile_id)
);
CREATE INDEX segment_due_at_idx ON cdp.segment_due (segment, due_at);
COMMENT ON TABLE cdp.segment_due IS 'When the rule of a segment that reads the clock next changes its mind for a profile (to within 30 s); swept by the worker.';
COMMENT ON TABLE cdp.segment_members IS 'Current members of each segment; holdout members are kept out of activation (their events say holdout: true).';

CREATE SEQUENCE cdp.segment_event_id_seq;
CREATE TABLE cdp.segment_events (
    event_id    bigint PRIMARY KEY,
    segment     text NOT NULL,
    profile_id  bigint NOT NULL,
    op          text NOT NULL CHECK (op IN ('enter', 'exit')),
    reason      text NOT NULL,      -- defined | refresh | changed | clock | altered | holdout | dropped | merged | gone
    merged_into bigint,             -- exit of a profile merged into another: the surviving id
    holdout     boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX segment_events_at_idx ON cdp.segment_events (at);
COMMENT ON TABLE cdp.segment_events IS 'Every segment enter and exit, in commit order of event_id: the outbox consumers replay with cdp.segment_events_since.';

-- Events up to pruned_through were deleted by retention: a consumer behind it has lost events.
-- One row once retention first deleted something (none: nothing deleted yet).
CREATE TABLE cdp.event_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    pruned_through bigint NOT NULL DEFAULT 0
);

-- Named consumers and the last event each acknowledged (cdp.ack_events), for cdp.consumer_lag.
CREATE TABLE cdp.consumers (
    consumer      text PRIMARY KEY CHECK (pg_catalog.length(consumer) BETWEEN 1 AND 100),
    last_event_id bigint NOT NULL,
    acked_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Profiles whose golden record, RFM, lifetime value or traits changed since the worker last
-- evaluated the segments for them (filled by statement triggers while segments exist).
CREATE TABLE cdp.segment_dirty (profile_id bigint NOT NULL);

SELECT pg_catalog.pg_extension_config_dump('cdp.segments', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segments_segment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_members', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_due', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_events', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.event_state', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_dirty', '');

CREATE FUNCTION cdp._mark_dirty()
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
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        INSERT INTO cdp.segment_dirty (profile_id) SELECT DISTINCT o.profile_id FROM dirty_old o;
    ELSE
        INSERT INTO cdp.segment_dirty (profile_id) SELECT DISTINCT n.profile_id FROM dirty_new n;
    END IF;
    RETURN NULL;
END
$$;
DO $dirty$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['profiles', 'rfm', 'clv', 'profile_traits'] LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER segment_dirty_ins AFTER INSERT ON cdp.%I REFERENCING NEW TABLE AS dirty_new
                                   FOR EACH STATEMENT EXECUTE FUNCTION cdp._mark_dirty()', t);
        EXECUTE pg_catalog.format('CREATE TRIGGER segment_dirty_upd AFTER UPDATE ON cdp.%I REFERENCING NEW TABLE AS dirty_new
                                   FOR EACH STATEMENT EXECUTE FUNCTION cdp._mark_dirty()', t);
        EXECUTE pg_catalog.format('CREATE TRIGGER segment_dirty_del AFTER DELETE ON cdp.%I REFERENCING OLD TABLE AS dirty_old
                                   FOR EACH STATEMENT EXECUTE FUNCTION cdp._mark_dirty()', t);
    END LOOP;
END
$dirty$;

-- Profile lifecycle on channel cdp_profiles: a merge (old id absorbed into new id) or a split
-- (part moved to a new id), as resolve runs write cdp.profile_lineage (pg_cdp's own
-- transactions, one run at a time: the lineage table is the durable record, in commit order of
-- lineage_id). Ids only; a run with 100 or more such changes is announced once, with its counts.
CREATE FUNCTION cdp._notify_lineage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO n FROM lineage_new l WHERE l.kind OPERATOR(pg_catalog.<>) 'new';
    IF n OPERATOR(pg_catalog.=) 0 THEN
        RETURN NULL;
    ELSIF n OPERATOR(pg_catalog.>=) 100 THEN
        PERFORM pg_catalog.pg_notify('cdp_profiles', pg_catalog.json_build_object(
                    'run_id', pg_catalog.max(l.run_id),
                    'first_lineage_id', pg_catalog.min(l.lineage_id), 'last_lineage_id', pg_catalog.max(l.lineage_id),
                    'merged', pg_catalog.count(*) FILTER (WHERE l.kind OPERATOR(pg_catalog.=) 'merge'),
                    'split', pg_catalog.count(*) FILTER (WHERE l.kind OPERATOR(pg_catalog.=) 'split'))::text)
           FROM lineage_new l WHERE l.kind OPERATOR(pg_catalog.<>) 'new';
    ELSE
        PERFORM pg_catalog.pg_notify('cdp_profiles', pg_catalog.json_build_object(
                    'lineage_id', l.lineage_id, 'event', CASE l.kind WHEN 'merge' THEN 'merged' ELSE 'split' END,
                    'old_profile_id', l.old_profile_id, 'new_profile_id', l.new_profile_id)::text)
           FROM lineage_new l WHERE l.kind OPERATOR(pg_catalog.<>) 'new' ORDER BY l.lineage_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER lineage_notify AFTER INSERT ON cdp.profile_lineage REFERENCING NEW TABLE AS lineage_new
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._notify_lineage();

-- A deterministic share of each segment's members is held out: the hash of segment and profile
-- id, so a member keeps its side across refreshes, and a surviving profile keeps its own.
CREATE FUNCTION cdp._holdout(segment text, profile_id bigint, percent numeric)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT percent OPERATOR(pg_catalog.>) 0
         AND ((pg_catalog.abs(pg_catalog.hashtextextended(segment OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) profile_id::text, 0))
               OPERATOR(pg_catalog.%) 10000) OPERATOR(pg_catalog.<) (percent OPERATOR(pg_catalog.*) 100)) $$;

-- The one lock every event writer holds until it commits: SHARE ROW EXCLUSIVE on
-- cdp.segment_events conflicts with itself and not with readers, and only a role that may write
-- the table can take it (an advisory lock any role could take and hold).
CREATE FUNCTION cdp._lock_events(wait boolean DEFAULT true)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF wait THEN
        LOCK TABLE cdp.segment_events IN SHARE ROW EXCLUSIVE MODE;
        RETURN true;
    END IF;
    BEGIN
        LOCK TABLE cdp.segment_events IN SHARE ROW EXCLUSIVE MODE NOWAIT;
        RETURN true;
    EXCEPTION WHEN lock_not_available THEN
        RETURN false;
    END;
END
$$;

-- Re-evaluate one segment (for every profile, or the profiles in ids) and write the difference:
-- memberships, one event per enter and exit, and the NOTIFY. An exit of a profile that no longer
-- exists says why (merged, with the surviving id, or gone). Returns enters and exits. The caller
-- holds cdp._lock_events().
CREATE FUNCTION cdp._apply_segment(seg cdp.segments, ids bigint[], why text)
RETURNS TABLE (enters bigint, exits bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    first_id bigint := pg_catalog.nextval('cdp.segment_event_id_seq');
    n_in     bigint;
    n_out    bigint;
BEGIN
    EXECUTE pg_catalog.format($q$
        WITH now_in AS MATERIALIZED (%s),
        gone AS (
            DELETE FROM cdp.segment_members m
             WHERE m.segment OPERATOR(pg_catalog.=) $2
               AND ($1 IS NULL OR m.profile_id OPERATOR(pg_catalog.=) ANY ($1))
               AND NOT EXISTS (SELECT 1 FROM now_in n WHERE n.profile_id OPERATOR(pg_catalog.=) m.profile_id)
            RETURNING m.profile_id, m.holdout),
        came AS (
            INSERT INTO cdp.segment_members (segment, profile_id, holdout)
            SELECT $2, n.profile_id, cdp._holdout($2, n.profile_id, $3) FROM now_in n
             WHERE NOT EXISTS (SELECT 1 FROM cdp.segment_members m
                                WHERE m.segment OPERATOR(pg_catalog.=) $2 AND m.profile_id OPERATOR(pg_catalog.=) n.profile_id)
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
                   AND NOT EXISTS (SELECT 1 FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) ch.profile_id) AS vanished
              FROM changes ch)
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, merged_into, holdout)
        SELECT x.event_id, $2, x.profile_id, x.op,
               CASE WHEN x.vanished AND x.merged_into IS NOT NULL THEN 'merged' WHEN x.vanished THEN 'gone' ELSE $4 END,
               CASE WHEN x.vanished THEN x.merged_into END, x.holdout
          FROM numbered x
        $q$, cdp._segment_query(seg.rule, CASE WHEN ids IS NULL THEN 'all' ELSE 'ids' END))
    USING ids, seg.name, seg.holdout_percent, why, first_id;
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
        PERFORM cdp._segment_due(seg, ids);
    ELSIF ids IS NULL THEN
        DELETE FROM cdp.segment_due d WHERE d.segment OPERATOR(pg_catalog.=) seg.name;
    END IF;
    RETURN QUERY SELECT n_in, n_out;
END
$$;

-- When the rule of a segment that reads the clock next changes its mind, per profile (those in
-- ids, or all): the rule is evaluated again at the end of the horizon (its member query with the
-- clock moved there), and for the profiles whose answer differs from their membership now, the
-- moment of change is found by bisection to within 30 s (the member query in probe form: each
-- profile at its own time) and stored in cdp.segment_due. A whole evaluation sets a new horizon,
-- cdp.segment_due_horizon ahead; the profiles of a batch keep the segment's. A profile whose
-- predicate changes and changes back within the horizon is seen at the next whole evaluation.
-- The caller has just written the membership (the answer now). Plain operators: the
-- search_path is pinned to pg_catalog.
CREATE FUNCTION cdp._segment_due(seg cdp.segments, ids bigint[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    t0     timestamptz := cdp._clock();
    t_end  timestamptz := seg.due_through;
    offset_now text := pg_catalog.current_setting('cdp.clock_offset');
    probe  text := cdp._segment_query(seg.rule, 'probe');
    n      bigint;
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
    -- the answer at the end of the horizon: the clock moved there for one query
    PERFORM pg_catalog.set_config('cdp.clock_offset', (offset_now::interval + (t_end - t0))::text, true);
    EXECUTE pg_catalog.format(
        'INSERT INTO pg_temp.cdp_due_search (profile_id, lo, hi, held)
         SELECT COALESCE(m.profile_id, z.profile_id), $2, $3, m.profile_id IS NOT NULL
           FROM (SELECT mm.profile_id FROM cdp.segment_members mm
                  WHERE mm.segment = $4 AND ($1 IS NULL OR mm.profile_id = ANY ($1))) m
           FULL JOIN (%s) z ON z.profile_id = m.profile_id
          WHERE m.profile_id IS NULL OR z.profile_id IS NULL',
        cdp._segment_query(seg.rule, CASE WHEN ids IS NULL THEN 'all' ELSE 'ids' END))
    USING ids, t0, t_end, seg.name;      -- $1: the ids the member query restricts to
    PERFORM pg_catalog.set_config('cdp.clock_offset', offset_now, true);
    LOOP
        TRUNCATE pg_temp.cdp_probe;
        INSERT INTO pg_temp.cdp_probe (profile_id, at)
        SELECT s.profile_id, s.lo + (s.hi - s.lo) / 2 FROM pg_temp.cdp_due_search s WHERE s.hi - s.lo > interval '30 seconds';
        EXIT WHEN NOT FOUND;
        ANALYZE pg_temp.cdp_probe;      -- a few profiles: the planner probes their rows by index
        -- the predicate at the middle: still as it was now (the change comes later) or not
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

-- NOTIFY cdp_segments with ids only (never a name, e-mail or phone; well under the 8000-byte
-- payload limit): one notification per event, or one for the range when a change is large.
-- Delivered at commit, not at all after a rollback.
CREATE FUNCTION cdp._notify_events(segment text, first_id bigint, last_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF last_id OPERATOR(pg_catalog.-) first_id OPERATOR(pg_catalog.>=) 100 THEN
        PERFORM pg_catalog.pg_notify('cdp_segments', pg_catalog.json_build_object(
            'segment', segment, 'first_event_id', first_id, 'last_event_id', last_id,
            'events', last_id OPERATOR(pg_catalog.-) first_id OPERATOR(pg_catalog.+) 1)::text);
        RETURN;
    END IF;
    PERFORM pg_catalog.pg_notify('cdp_segments', pg_catalog.json_build_object(
                'event_id', e.event_id, 'segment', e.segment, 'profile_id', e.profile_id,
                'op', e.op, 'holdout', e.holdout)::text)
       FROM cdp.segment_events e
      WHERE e.event_id OPERATOR(pg_catalog.>=) first_id AND e.event_id OPERATOR(pg_catalog.<=) last_id
      ORDER BY e.event_id;
END
$$;

CREATE FUNCTION cdp._segment_named(segment text)
RETURNS cdp.segments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s cdp.segments;
BEGIN
    SELECT * INTO s FROM cdp.segments x WHERE x.name OPERATOR(pg_catalog.=) segment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segment "%" does not exist', segment USING ERRCODE = '42704',
              HINT = 'SELECT name FROM cdp.segments lists the segments';
    END IF;
    RETURN s;
END
$$;

-- Check a rule: the expression checker (42601, 42703 with the names, 42501), then the member
-- query planned without rows (42804 when the rule is not boolean, 42883 for an operator that
-- does not fit the column's type).
CREATE FUNCTION cdp._check_segment_rule(rule text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text;
    st text;
    msg text;
BEGIN
    IF rule IS NULL THEN
        RAISE EXCEPTION 'a segment needs a rule' USING ERRCODE = '22004';
    END IF;
    q := cdp._segment_query(rule, 'all');
    BEGIN
        EXECUTE q OPERATOR(pg_catalog.||) ' LIMIT 0';
    EXCEPTION WHEN datatype_mismatch THEN
        RAISE EXCEPTION 'segment rule "%" is not a boolean expression', rule USING ERRCODE = '42804',
              HINT = 'a rule says which profiles are members, e.g. revenue >= 500 AND p_alive < 0.5';
    WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        RAISE EXCEPTION 'segment rule "%" cannot be evaluated: %', rule, msg USING ERRCODE = st;
    END;
END
$$;

CREATE FUNCTION cdp.define_segment(name text, rule text, description text DEFAULT NULL, holdout_percent numeric DEFAULT 0)
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
    PERFORM cdp._lock_events();
    INSERT INTO cdp.segments (name, rule, description, holdout_percent, reads_clock, defined_by, refreshed_at)
    VALUES (name, rule, description, holdout_percent, cdp._segment_reads_clock(rule), cdp._acting_role(), cdp._clock())
    RETURNING * INTO s;
    -- filled at once: each initial member is one enter event (reason defined)
    PERFORM cdp._apply_segment(s, NULL, 'defined');
    RETURN s.segment_id;
END
$$;
COMMENT ON FUNCTION cdp.define_segment(text, text, text, numeric) IS
'Define a segment: a boolean rule over the columns of cdp.customer_360 and the traits. Filled at once (one enter event per member); kept current by the worker. Returns the segment id.';

CREATE FUNCTION cdp.alter_segment(name text, rule text DEFAULT NULL, description text DEFAULT NULL, holdout_percent numeric DEFAULT NULL)
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
    PERFORM cdp._lock_events();
    UPDATE cdp.segments x
       SET rule = COALESCE(rule, x.rule), description = COALESCE(description, x.description),
           holdout_percent = COALESCE(holdout_percent, x.holdout_percent), updated_at = pg_catalog.now(),
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
    SELECT * INTO r FROM cdp._apply_segment(s, NULL, 'altered');
    RETURN pg_catalog.jsonb_build_object('segment', s.name, 'enters', r.enters, 'exits', r.exits);
END
$$;

CREATE FUNCTION cdp.drop_segment(name text)
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
    RETURN n;
END
$$;

-- Full, set-based re-evaluation of one segment or all. Returns enters and exits per segment.
CREATE FUNCTION cdp.refresh_segments(segment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s       cdp.segments;
    r       record;
    started timestamptz := pg_catalog.clock_timestamp();
    result  jsonb := '{}';
BEGIN
    IF segment IS NOT NULL THEN
        PERFORM cdp._segment_named(segment);
    END IF;
    PERFORM cdp._lock_events();
    IF segment IS NULL THEN
        -- everything is evaluated now: what was marked before this point is covered
        DELETE FROM cdp.segment_dirty;
    END IF;
    FOR s IN SELECT * FROM cdp.segments x WHERE segment IS NULL OR x.name OPERATOR(pg_catalog.=) segment ORDER BY x.segment_id LOOP
        SELECT * INTO r FROM cdp._apply_segment(s, NULL, 'refresh');
        UPDATE cdp.segments x SET refreshed_at = cdp._clock() WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
        result := result OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(s.name, pg_catalog.jsonb_build_object('enters', r.enters, 'exits', r.exits));
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('segments', result,
           'seconds', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started)::numeric, 3));
END
$$;
COMMENT ON FUNCTION cdp.refresh_segments(text) IS
'Re-evaluate one segment or all, set-based, writing enter and exit events for the difference. Returns enters and exits per segment and the seconds taken.';

-- One segment in the worker's step, in a subtransaction: a segment that fails (a trait its rule
-- names is gone, say) records the SQLSTATE and is retried whole every
-- cdp.segment_clock_interval, and never stops the other segments. Success clears the mark; a
-- failure on a batch of changed profiles leaves it to that full retry.
CREATE FUNCTION cdp._worker_apply(s cdp.segments, ids bigint[], why text, OUT enters bigint, OUT exits bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st text;
BEGIN
    enters := 0;
    exits := 0;
    BEGIN
        SELECT a.enters, a.exits INTO enters, exits FROM cdp._apply_segment(s, ids, why) a;
        UPDATE cdp.segments x SET failed_sqlstate = NULL,
               refreshed_at = CASE WHEN ids IS NULL THEN cdp._clock() ELSE x.refreshed_at END
         WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        UPDATE cdp.segments x SET failed_sqlstate = st, refreshed_at = cdp._clock()
         WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
        RAISE LOG 'pg_cdp worker: segment % failed with SQLSTATE %; retried whole every cdp.segment_clock_interval', s.segment_id, st;
    END;
END
$$;

-- The worker's step: re-evaluate every segment for the profiles marked since its last step
-- (their golden record, RFM, lifetime value or traits changed; a merged-away profile exits),
-- and every segment whose rule reads the clock for the profiles that are due (cdp.segment_due),
-- or whole once its due times run out; never waiting for another event writer. Many marks at
-- once (a full resolve, an RFM recomputation) make it a full refresh. Also applies
-- cdp.segment_event_retention.
CREATE FUNCTION cdp._worker_segments(max_profiles integer)
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

-- Did activating the segment work? Members who entered it, treated against held out: how many
-- converted (an order within the window after entering), conversion rate, revenue per member,
-- and the uplift in conversion with a 95% confidence interval (two-proportion normal
-- approximation). Below 100 members in either group the verdict says it is too early. Orders are
-- read with the caller's rights (SECURITY INVOKER), as cdp.transactions reads them.
CREATE FUNCTION cdp.segment_report(segment text, "window" interval DEFAULT '30 days')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s      cdp.segments := cdp._segment_named(segment);
    g      jsonb;
    t      record;
    h      record;
    diff   float8;
    se     float8;
    verdict text;
BEGIN
    IF "window" IS NULL OR "window" OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'window must be a positive interval, not %', "window" USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format($q$
        WITH entered AS (       -- each member's first entry (events, or the membership when pruned)
            SELECT x.profile_id, pg_catalog.min(x.at) AS at, pg_catalog.bool_or(x.holdout) AS holdout
              FROM (SELECT e.profile_id, e.at, e.holdout FROM cdp.segment_events e
                     WHERE e.segment OPERATOR(pg_catalog.=) $2 AND e.op OPERATOR(pg_catalog.=) 'enter'
                    UNION ALL
                    SELECT m.profile_id, m.entered_at, m.holdout FROM cdp.segment_members m
                     WHERE m.segment OPERATOR(pg_catalog.=) $2) x
             GROUP BY x.profile_id),
        outcome AS (
            SELECT en.holdout, en.profile_id,
                   pg_catalog.count(o.profile_id) OPERATOR(pg_catalog.>) 0 AS converted,
                   COALESCE(pg_catalog.sum(o.amount), 0) AS revenue
              FROM entered en
              LEFT JOIN (%s) o ON o.profile_id OPERATOR(pg_catalog.=) en.profile_id
                              AND o.occurred_at OPERATOR(pg_catalog.>) en.at
                              AND o.occurred_at OPERATOR(pg_catalog.<=) (en.at OPERATOR(pg_catalog.+) $3)
             GROUP BY en.holdout, en.profile_id)
        SELECT pg_catalog.jsonb_object_agg(CASE WHEN z.holdout THEN 'holdout' ELSE 'treated' END, pg_catalog.to_jsonb(z) OPERATOR(pg_catalog.-) 'holdout')
          FROM (SELECT b.holdout, pg_catalog.count(*) AS members,
                       pg_catalog.count(*) FILTER (WHERE b.converted) AS converters,
                       pg_catalog.round(pg_catalog.avg(b.converted::int), 4) AS conversion_rate,
                       pg_catalog.round(pg_catalog.avg(b.revenue), 2) AS revenue_per_member
                  FROM outcome b GROUP BY b.holdout) z
    $q$, cdp._transactions_sql(true)) INTO g USING pg_catalog.now(), s.name, "window";   -- $1: the as-of time of cdp._transactions_sql
    g := COALESCE(g, '{}');
    SELECT COALESCE((g #>> '{treated,members}')::bigint, 0) AS n, COALESCE((g #>> '{treated,conversion_rate}')::float8, 0) AS p INTO t;
    SELECT COALESCE((g #>> '{holdout,members}')::bigint, 0) AS n, COALESCE((g #>> '{holdout,conversion_rate}')::float8, 0) AS p INTO h;
    IF t.n OPERATOR(pg_catalog.<) 100 OR h.n OPERATOR(pg_catalog.<) 100 THEN
        verdict := 'not enough members yet (at least 100 treated and 100 held out)';
    ELSE
        -- plain operators (the search_path is pinned to pg_catalog): OPERATOR() would give
        -- every one of them the same precedence
        diff := t.p - h.p;
        se := pg_catalog.sqrt(t.p * (1 - t.p) / t.n + h.p * (1 - h.p) / h.n);
        verdict := CASE WHEN diff - 1.96 * se > 0 THEN 'treated members convert more (95% confidence)'
                        WHEN diff + 1.96 * se < 0 THEN 'treated members convert less (95% confidence)'
                        ELSE 'no difference shown yet at 95% confidence' END;
    END IF;
    RETURN g OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
        'segment', s.name, 'window', "window"::text, 'holdout_percent', s.holdout_percent,
        'uplift', CASE WHEN diff IS NOT NULL THEN pg_catalog.round(diff::numeric, 4) END,
        'uplift_ci95', CASE WHEN diff IS NOT NULL THEN pg_catalog.jsonb_build_array(
                pg_catalog.round((diff - 1.96 * se)::numeric, 4), pg_catalog.round((diff + 1.96 * se)::numeric, 4)) END,
        'verdict', verdict);
END
$$;
COMMENT ON FUNCTION cdp.segment_report(text, interval) IS
'Treated against held-out members of a segment: members, converters (an order within the window after entering), conversion rate, revenue per member, the uplift with its 95% confidence interval, and a verdict.';

-- Catch-up for a consumer that was away: the events after the last one it saw, in order. A
-- consumer behind what retention deleted gets 55000, never a silent gap.
CREATE FUNCTION cdp.segment_events_since(after_event_id bigint, max_events integer DEFAULT 1000)
RETURNS SETOF cdp.segment_events
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF after_event_id IS NULL OR max_events IS NULL OR max_events OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'after_event_id must be given and max_events at least 1' USING ERRCODE = '22023';
    END IF;
    IF after_event_id OPERATOR(pg_catalog.<) COALESCE((SELECT st.pruned_through FROM cdp.event_state st), 0) THEN
        RAISE EXCEPTION 'events after % were deleted by retention (up to event %)', after_event_id,
              (SELECT st.pruned_through FROM cdp.event_state st) USING ERRCODE = '55000',
              HINT = 're-read the segments from cdp.segment_members, then continue from SELECT max(event_id) FROM cdp.segment_events; cdp.segment_event_retention sets how long events are kept';
    END IF;
    RETURN QUERY SELECT e.* FROM cdp.segment_events e
                  WHERE e.event_id OPERATOR(pg_catalog.>) after_event_id
                  ORDER BY e.event_id LIMIT max_events;
END
$$;
COMMENT ON FUNCTION cdp.segment_events_since(bigint, integer) IS
'The segment events after after_event_id, in order (at most max_events): a consumer that keeps its last event id catches up exactly once. 55000 when retention already deleted events it has not seen.';

CREATE FUNCTION cdp.ack_events(consumer text, event_id bigint)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO cdp.consumers AS c (consumer, last_event_id) VALUES (consumer, event_id)
    ON CONFLICT ON CONSTRAINT consumers_pkey DO UPDATE SET last_event_id = GREATEST(c.last_event_id, EXCLUDED.last_event_id), acked_at = pg_catalog.now()
$$;
COMMENT ON FUNCTION cdp.ack_events(text, bigint) IS
'Store a named consumer''s position (the last event it processed); cdp.consumer_lag shows how far behind each one is.';

CREATE VIEW cdp.consumer_lag AS
SELECT c.consumer, c.last_event_id, c.acked_at,
       (SELECT pg_catalog.count(*) FROM cdp.segment_events e WHERE e.event_id OPERATOR(pg_catalog.>) c.last_event_id) AS events_behind,
       c.last_event_id OPERATOR(pg_catalog.<) COALESCE((SELECT st.pruned_through FROM cdp.event_state st), 0) AS lost_events
  FROM cdp.consumers c;
COMMENT ON VIEW cdp.consumer_lag IS 'Each named consumer''s position, the events it has not acknowledged, and whether retention deleted some it never saw.';

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


-- ---------------------------------------------------------------------------------------------
-- Privileges. Nothing in cdp is PUBLIC. Every function runs with a fixed search_path (the Rust
-- ones included). cdp_admin may call every function and read every table; it writes no table
-- pg_cdp trusts (sources, change queue, records, the resolution tables, steward decisions, trait
-- definitions) except through the functions, which do so as pg_cdp's owner. It does write the
-- tables that only the caller's own value computations read.
-- ---------------------------------------------------------------------------------------------
DO $privileges$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'cdp'::regnamespace
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
GRANT SELECT ON ALL TABLES IN SCHEMA cdp TO cdp_admin;
GRANT INSERT, UPDATE, DELETE ON cdp.rfm, cdp.clv, cdp.clv_model, cdp.profile_traits,
      cdp.currency_rates, cdp.rfm_segment_map TO cdp_admin;
