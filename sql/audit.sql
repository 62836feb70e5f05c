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
