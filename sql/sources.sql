-- pg_cdp: sources and change capture: registered tables, records, quarantine, the change
-- queue and the capture triggers that fill it, and the wrappers over the Rust functions in
-- src/api/sources.rs and src/api/normalise.rs.

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

-- The identity attributes (Attr::ALL in crates/cdp-core/src/normalise), one definition for every table that
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

-- Consent statements read from the consent columns a source maps (sql/consent.sql).
-- One row per source record and purpose it states.
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

-- pg_dump keeps everything pg_cdp derived as well, with the sequences behind its ids: a restore
-- brings back the same records (so steward decisions keep pointing at the same rows), the same
-- profile ids with their lineage, the model, the pair evidence and the queue, without a re-sync
-- or a re-resolve that would hand out new ids.
SELECT pg_catalog.pg_extension_config_dump('cdp.records', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.records_record_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.quarantine_quarantine_id_seq', '');

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
AS $$
    SELECT cdp._audit('source.add', source_table::text,
                      pg_catalog.jsonb_build_object('key_column', key_column, 'mapping', mapping, 'channel', channel, 'priority', priority));
    SELECT cdp._add_source(source_table::oid, key_column::text, mapping, channel, priority)
$$;
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
AS $$
    SELECT cdp._audit('source.alter', source_table::text, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                      'mapping', mapping, 'channel', channel, 'priority', priority, 'key_column', key_column)));
    SELECT cdp._alter_source(source_table::oid, mapping, channel, priority, key_column::text)
$$;
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
AS $$
    SELECT cdp._audit('source.drop', source_table::text);
    SELECT cdp._drop_source(source_table::oid)
$$;
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
    op              "char" NOT NULL DEFAULT 'k',
                                            -- k: this key; a: the whole source (TRUNCATE, a partition
                                            -- attached or detached, the key column gone); n: look for
                                            -- rows with a NULL key
    queued_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,            -- a failed key waits until then (back-off)
    last_sqlstate   text,
    source_keys     text[]                  -- op k with source_key NULL: the keys of one statement
                                            -- that changed many rows, queued as one row
);
CREATE INDEX change_queue_source_idx ON cdp.change_queue (source_id);
COMMENT ON TABLE cdp.change_queue IS 'Keys of source rows changed since they were last synced (one row per key, or one row with source_keys for a statement that changed many rows); drained by the background worker or cdp.process_changes(). A key that failed waits with its attempts and SQLSTATE.';
REVOKE ALL ON cdp.change_queue FROM PUBLIC;
GRANT INSERT ON cdp.change_queue TO cdp_capture;
SELECT pg_catalog.pg_extension_config_dump('cdp.change_queue', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.change_queue_change_id_seq', '');

-- Whatever queues changes wakes the worker when its transaction commits, so they are applied at
-- once instead of at the worker's next poll (cdp.worker_naptime): the capture trigger and the
-- Rust functions ask for the worker's latch to be set at commit themselves, the SQL functions
-- call cdp._wake_worker_at_commit() (src/api/worker.rs). The queue has no trigger (and no CHECK
-- constraint): the executor would read its stored expression again on every application write.

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

-- The capture trigger function, cdp._capture_changes (src/api/capture.rs), runs inside the
-- applications' own writes, so it is built to cost little and never to fail them, and to run
-- nothing of theirs with rights they lack: SECURITY DEFINER owned by the NOLOGIN role
-- cdp_capture, whose only right is appending to cdp.change_queue; it queues keys (never row
-- contents) of a type whose text form no session setting changes (cdp.add_source allows only
-- such key types), read from the statement's transition tables with one insert planned once per
-- session. The key column is found by number at every call, so renaming it changes nothing; when
-- it is gone, or no longer of a key type, the whole source is queued for a re-sync and a WARNING
-- says so instead of an error in the application's transaction.
ALTER FUNCTION cdp._capture_changes() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
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
    PERFORM cdp._wake_worker_at_commit();
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

-- Descriptions (\d+ shows them; the reference test requires one for every table and function).
COMMENT ON FUNCTION cdp.normalise(text, text) IS 'The normalised matching form of one value of an identity attribute (email, phone, full_name, birth_date, ...), and the reason when it cannot be used.';
