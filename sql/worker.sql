-- pg_cdp: the background worker's status (the worker itself is src/worker.rs; its steps are the
-- _worker_* functions of each domain).

-- ---------------------------------------------------------------------------------------------
-- Background worker
-- ---------------------------------------------------------------------------------------------
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
COMMENT ON FUNCTION cdp.worker_steps() IS
'Where the background worker''s time goes: each step (applying changes, resolving, refreshing traits, evaluating segments, idle, waiting for ALTER EXTENSION UPDATE) with the number of times it ran and its total seconds since the worker started. Errors with a hint when pg_cdp is not preloaded.';
