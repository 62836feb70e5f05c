-- pg_cdp: privileges, emitted last (finalize): every object of every domain exists by now.

-- ---------------------------------------------------------------------------------------------
-- Privileges. Nothing in cdp is PUBLIC. Every function runs with a fixed search_path (the Rust
-- ones included). cdp_admin may call every function and read every table; it writes no table
-- pg_cdp trusts (sources, change queue, records, the resolution tables, steward decisions, trait
-- definitions) except through the functions, which do so as pg_cdp's owner. It does write the
-- tables that only the caller's own value computations read.
-- ---------------------------------------------------------------------------------------------
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
