-- pg_cdp bootstrap (emitted first): the schema check and the roles every domain file uses.
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
-- dropped). All are NOLOGIN groups:
--   cdp_capture  owns the capture trigger function and may only append to cdp.change_queue: the
--                trigger that runs in the applications' own transactions has no other right.
--   cdp_admin    may call the API (register and sync sources, resolve, steward decisions, value
--                computations) and read the cdp tables; it cannot write them except through the
--                API. GRANT cdp_admin TO a login role to let it administer pg_cdp.
--   cdp_analyst  reads masked profiles (cdp.profiles_masked) and the value tables (RFM, CLV,
--                traits, segments), never records, profiles or the secrets; calls nothing that
--                writes. GRANT cdp_analyst TO a login role for analysts.
--   cdp_steward  works the review queue (cdp.review_queue, force_link, cannot_link, force_split)
--                and reads masked profiles.
--   cdp_app      reads segment events and memberships by profile id (segment_events_since,
--                ack_events, segments, segment_members, consumer_lag): no personal data at all.
-- An existing role of either name is reused only when it cannot log in and is no superuser; for
-- cdp_capture also only when no role is a member of it (a member could act as the trigger).
DO $roles$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('cdp_capture'), ('cdp_admin'), ('cdp_analyst'), ('cdp_steward'), ('cdp_app')) v(name) LOOP
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
GRANT USAGE ON SCHEMA cdp TO cdp_capture, cdp_admin, cdp_analyst, cdp_steward, cdp_app;
