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
