-- ---------------------------------------------------------------------------------------------
-- Privacy: what analysts see. cdp.profiles_masked shows every profile with each attribute
-- masked by its rule (crates/cdp-core/src/mask.rs: the rules and their defaults, defined once);
-- cdp.set_masking changes a rule; cdp_analyst reads the masked view and the value tables, never
-- records or profiles.
-- ---------------------------------------------------------------------------------------------

-- The database's secret salt of the `hash` masking rule: a random value made at CREATE
-- EXTENSION. Readable by pg_cdp's owner only (not by cdp_admin or cdp_analyst), so a hashed
-- value cannot be checked against a guess. Not dumped: a restored database gets a new salt, so
-- hashed values do not join across a restore.
CREATE TABLE cdp.secrets (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO cdp.secrets (name, value)
VALUES ('mask_salt', pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text);
COMMENT ON TABLE cdp.secrets IS 'Secrets of this database (the salt of the hash masking rule); readable by pg_cdp''s owner only, not dumped.';

-- Masking rules set by cdp.set_masking (an attribute not listed keeps its default).
CREATE TABLE cdp.masking_rules (
    attribute text PRIMARY KEY,
    rule      text NOT NULL CHECK (rule IN ('keep', 'remove', 'initials', 'email', 'last_two_digits', 'year', 'hash'))
);
SELECT pg_catalog.pg_extension_config_dump('cdp.masking_rules', '');
COMMENT ON TABLE cdp.masking_rules IS 'Masking rules chosen with cdp.set_masking; see cdp.masking for the rule in force for every attribute.';

CREATE VIEW cdp.masking AS
SELECT d.attribute, COALESCE(r.rule, d.rule) AS rule, r.rule IS NULL AS is_default
  FROM cdp._mask_defaults() d
  LEFT JOIN cdp.masking_rules r ON r.attribute OPERATOR(pg_catalog.=) d.attribute
 ORDER BY d.position;
COMMENT ON VIEW cdp.masking IS 'The masking rule in force for every identity attribute (what cdp.profiles_masked shows).';

CREATE FUNCTION cdp.set_masking(attribute text, rule text)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('masking.set', attribute, pg_catalog.jsonb_build_object('rule', rule));
    SELECT cdp._set_masking(attribute, rule)
$$;
COMMENT ON FUNCTION cdp.set_masking(text, text) IS
'Choose how cdp.profiles_masked shows an attribute: keep, remove, initials, email (a***@d***.com), last_two_digits, year or hash (a salted hash: countable, not readable); NULL: back to the default.';

-- Every profile as an analyst may see it: names and places as written (the golden record's
-- display values), the rest in their matching form, each masked by its rule; one call per row.
CREATE VIEW cdp.profiles_masked AS
SELECT p.profile_id, p.record_count, p.source_count,
       m.v[1] AS first_name, m.v[2] AS last_name, m.v[3] AS full_name, m.v[4] AS email, m.v[5] AS phone,
       m.v[6] AS birth_date, m.v[7] AS gender, m.v[8] AS street, m.v[9] AS city, m.v[10] AS postcode,
       m.v[11] AS region, m.v[12] AS country, m.v[13] AS national_id, m.v[14] AS external_id,
       m.v[15] AS anonymous_id, p.created_at, p.updated_at
  FROM cdp.profiles p
 CROSS JOIN (SELECT pg_catalog.array_agg(k.rule ORDER BY d.position) AS rules
               FROM cdp._mask_defaults() d JOIN cdp.masking k ON k.attribute OPERATOR(pg_catalog.=) d.attribute) r
 CROSS JOIN (SELECT s.value AS salt FROM cdp.secrets s WHERE s.name OPERATOR(pg_catalog.=) 'mask_salt') s
 CROSS JOIN LATERAL (SELECT cdp._mask_values(ARRAY[
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'first_name', p.first_name),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'last_name', p.last_name),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'full_name', p.full_name),
        p.email, p.phone, pg_catalog.to_char(p.birth_date, 'YYYY-MM-DD'),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'gender', p.gender),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'street', p.street),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'city', p.city),
        p.postcode,
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'region', p.region),
        COALESCE(p.display OPERATOR(pg_catalog.->>) 'country', p.country),
        p.national_id, p.external_id, p.anonymous_id], r.rules, s.salt) AS v) m;
COMMENT ON VIEW cdp.profiles_masked IS 'Every unified profile with each attribute masked by its rule (cdp.masking): what cdp_analyst reads instead of cdp.profiles.';

-- cdp.customer_360 as an analyst may see it: the golden record's values from cdp.profiles_masked
-- (the same rules, applied once), everything else as it is.
CREATE VIEW cdp.customer_360_masked AS
SELECT c.profile_id, m.full_name AS name, m.email, m.phone, m.birth_date, m.city, m.country,
       c.record_count, c.source_count,
       c.recency_days, c.frequency, c.monetary_total, c.r_score, c.f_score, c.m_score, c.rfm_cell, c.segment,
       c.orders, c.historical_value, c.p_alive, c.expected_purchases, c.predicted_clv,
       c.traits, c.created_at, c.updated_at,
       c.email_opt_in, c.sms_opt_in, c.push_opt_in, c.profiling_opt_in
  FROM cdp.customer_360 c
  JOIN cdp.profiles_masked m ON m.profile_id OPERATOR(pg_catalog.=) c.profile_id;
COMMENT ON VIEW cdp.customer_360_masked IS 'cdp.customer_360 with the golden record masked as in cdp.profiles_masked (birth_date as text): what cdp_analyst reads instead of cdp.customer_360.';

-- ---------------------------------------------------------------------------------------------
-- Erasure (GDPR Art. 17, KVKK Art. 7): cdp.forget removes a person from every pg_cdp table, and
-- their identifiers, as salted hashes, go to a suppression list so that their rows, if they come
-- again from a source, do not become records. The ledger keeps a salted hash of the profile id
-- and the time, nothing else of the person.
-- ---------------------------------------------------------------------------------------------

-- The salt of the suppression hashes: made by the first erasure (not at CREATE EXTENSION, so a
-- restore brings the database's own salt back and its list keeps matching).
CREATE TABLE cdp.erasure_salt (
    salt text NOT NULL
);
CREATE UNIQUE INDEX erasure_salt_one_row ON cdp.erasure_salt ((true));
SELECT pg_catalog.pg_extension_config_dump('cdp.erasure_salt', '');
COMMENT ON TABLE cdp.erasure_salt IS 'The salt of the suppression list''s hashes (one row, made by the first cdp.forget); dumped with the list.';

CREATE TABLE cdp.erasures (
    erasure_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erased_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    session_role        name NOT NULL DEFAULT SESSION_USER,
    acting_role         name NOT NULL,
    profile_hash        text NOT NULL,        -- salted hash of the erased profile id
    records             integer NOT NULL,
    identifiers         integer NOT NULL,     -- identifier hashes added to cdp.suppressions
    source_rows_deleted integer NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('cdp.erasures', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.erasures_erasure_id_seq', '');
COMMENT ON TABLE cdp.erasures IS 'The erasure ledger: one row per cdp.forget, with a salted hash of the profile id, who and when, and counts; nothing else of the person.';

CREATE TABLE cdp.suppressions (
    key        text PRIMARY KEY,              -- attribute ':' salted hash of its normalised value
    erasure_id bigint NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('cdp.suppressions', '');
COMMENT ON TABLE cdp.suppressions IS 'Identifiers of erased people (e-mail, phone, national, external and anonymous ids) as salted hashes: a source row holding one of them does not become a record.';

-- The suppression keys of a record's identifiers (cdp._identifier_hashes over its values).
CREATE FUNCTION cdp._record_hashes(r cdp.records, salt text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._identifier_hashes(ARRAY[r.first_name, r.last_name, r.full_name, r.email, r.phone,
               pg_catalog.to_char(r.birth_date, 'YYYY-MM-DD'), r.gender, r.street, r.city, r.postcode, r.region,
               r.country, r.national_id, r.external_id, r.anonymous_id], salt)
$$;

-- The source rows of a profile's records, for cdp.forget to delete with the caller's rights:
-- the table, the key column (by number: its current name) and its type.
CREATE FUNCTION cdp._forget_source_rows(profile_id bigint)
RETURNS TABLE (source_table regclass, key_column name, key_type text, source_key text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.source_table, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), r.source_key
      FROM cdp.records r
      JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) s.source_table AND a.attnum OPERATOR(pg_catalog.=) s.key_attnum
     WHERE r.profile_id OPERATOR(pg_catalog.=) _forget_source_rows.profile_id
     ORDER BY 1, 4
$$;

-- Everything pg_cdp holds of one profile, removed; its identifiers suppressed; the ledger row.
CREATE FUNCTION cdp._forget(profile_id bigint, source_rows_deleted integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    pid      bigint := _forget.profile_id;
    salt     text;
    eid      bigint;
    n_rec    integer;
    n_ids    integer;
    n_events integer := 0;
    seg      record;
BEGIN
    -- one resolve run at a time: none may be writing this profile meanwhile
    PERFORM pg_catalog.pg_advisory_xact_lock(868476083206319222);  -- RESOLVE_LOCK_KEY, src/api/resolve/mod.rs
    IF NOT EXISTS (SELECT 1 FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) pid)
       AND NOT EXISTS (SELECT 1 FROM cdp.records r WHERE r.profile_id OPERATOR(pg_catalog.=) pid) THEN
        RAISE EXCEPTION 'profile % does not exist', pid USING ERRCODE = '42704';
    END IF;
    INSERT INTO cdp.erasure_salt (salt)
    SELECT pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::pg_catalog.text
     WHERE NOT EXISTS (SELECT 1 FROM cdp.erasure_salt);
    SELECT e.salt INTO salt FROM cdp.erasure_salt e;

    CREATE TEMP TABLE IF NOT EXISTS cdp_forget_records (record_id bigint, source_id integer, source_key text,
                                                         name_key text, person text, ids text[]) ON COMMIT DROP;
    TRUNCATE cdp_forget_records;
    INSERT INTO cdp_forget_records
    SELECT r.record_id, r.source_id, r.source_key, cdp._name_key(r.first_name, r.last_name, r.full_name),
           COALESCE(r.birth_date::pg_catalog.text, r.record_id::pg_catalog.text),
           cdp._record_hashes(r, salt)
      FROM cdp.records r WHERE r.profile_id OPERATOR(pg_catalog.=) pid;
    GET DIAGNOSTICS n_rec = ROW_COUNT;

    INSERT INTO cdp.erasures (acting_role, profile_hash, records, identifiers, source_rows_deleted)
    VALUES (cdp._acting_role(), 'h:' OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(
                pg_catalog.convert_to(salt OPERATOR(pg_catalog.||) '|profile|' OPERATOR(pg_catalog.||) pid::pg_catalog.text, 'UTF8')), 'hex'), 16),
            n_rec, 0, COALESCE(_forget.source_rows_deleted, 0))
    RETURNING erasure_id INTO eid;
    INSERT INTO cdp.suppressions (key, erasure_id)
    SELECT DISTINCT k, eid FROM cdp_forget_records f, pg_catalog.unnest(f.ids) k
    ON CONFLICT (key) DO NOTHING;
    GET DIAGNOSTICS n_ids = ROW_COUNT;
    UPDATE cdp.erasures e SET identifiers = n_ids WHERE e.erasure_id OPERATOR(pg_catalog.=) eid;

    -- segment consumers learn of it from an exit (reason forgotten); the profile's earlier
    -- events go
    DELETE FROM cdp.segment_events e WHERE e.profile_id OPERATOR(pg_catalog.=) pid OR e.merged_into OPERATOR(pg_catalog.=) pid;
    FOR seg IN SELECT m.segment AS name, m.holdout FROM cdp.segment_members m
                WHERE m.profile_id OPERATOR(pg_catalog.=) pid ORDER BY m.segment LOOP
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, holdout)
        VALUES (pg_catalog.nextval('cdp.segment_event_id_seq'), seg.name, pid, 'exit', 'forgotten', seg.holdout);
        PERFORM cdp._notify_events(seg.name, pg_catalog.currval('cdp.segment_event_id_seq'), pg_catalog.currval('cdp.segment_event_id_seq'));
        n_events := n_events OPERATOR(pg_catalog.+) 1;
    END LOOP;
    DELETE FROM cdp.segment_members m WHERE m.profile_id OPERATOR(pg_catalog.=) pid;

    -- the records and everything derived from them
    DELETE FROM cdp.record_keys k USING cdp_forget_records f WHERE k.record_id OPERATOR(pg_catalog.=) f.record_id;
    DELETE FROM cdp.match_edges e USING cdp_forget_records f
     WHERE e.record_a OPERATOR(pg_catalog.=) f.record_id OR e.record_b OPERATOR(pg_catalog.=) f.record_id;
    DELETE FROM cdp.near_matches e USING cdp_forget_records f
     WHERE e.record_a OPERATOR(pg_catalog.=) f.record_id OR e.record_b OPERATOR(pg_catalog.=) f.record_id;
    DELETE FROM cdp.manual_links l USING cdp_forget_records f
     WHERE (l.source_a OPERATOR(pg_catalog.=) f.source_id AND l.key_a OPERATOR(pg_catalog.=) f.source_key)
        OR (l.source_b OPERATOR(pg_catalog.=) f.source_id AND l.key_b OPERATOR(pg_catalog.=) f.source_key);
    DELETE FROM cdp.quarantine q USING cdp_forget_records f
     WHERE q.source_id OPERATOR(pg_catalog.=) f.source_id AND q.source_key OPERATOR(pg_catalog.=) f.source_key;
    DELETE FROM cdp.change_queue q USING cdp_forget_records f
     WHERE q.source_id OPERATOR(pg_catalog.=) f.source_id AND q.source_key OPERATOR(pg_catalog.=) f.source_key;
    UPDATE cdp.change_queue q SET source_keys = ARRAY(SELECT k FROM pg_catalog.unnest(q.source_keys) k
                                                       WHERE NOT EXISTS (SELECT 1 FROM cdp_forget_records f
                                                                          WHERE f.source_id OPERATOR(pg_catalog.=) q.source_id
                                                                            AND f.source_key OPERATOR(pg_catalog.=) k))
     WHERE q.source_keys IS NOT NULL
       AND EXISTS (SELECT 1 FROM cdp_forget_records f WHERE f.source_id OPERATOR(pg_catalog.=) q.source_id
                      AND f.source_key OPERATOR(pg_catalog.=) ANY (q.source_keys));
    DELETE FROM cdp.records r USING cdp_forget_records f WHERE r.record_id OPERATOR(pg_catalog.=) f.record_id;
    -- name frequencies: the person's names counted once less
    UPDATE cdp.name_frequencies n SET records = n.records OPERATOR(pg_catalog.-) d.people
      FROM (SELECT f.name_key, pg_catalog.count(DISTINCT f.person) AS people FROM cdp_forget_records f
             WHERE f.name_key OPERATOR(pg_catalog.<>) '' GROUP BY 1) d
     WHERE n.name_key OPERATOR(pg_catalog.=) d.name_key;
    DELETE FROM cdp.name_frequencies n WHERE n.records OPERATOR(pg_catalog.<) 2 AND n.name_key OPERATOR(pg_catalog.<>) '';
    -- the profile
    DELETE FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.profile_lineage l WHERE l.old_profile_id OPERATOR(pg_catalog.=) pid OR l.new_profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.resolve_gone g WHERE g.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.profile_traits t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.rfm t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.clv t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.profile_facts t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.facts_dirty t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.trait_dirty t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.segment_dirty t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    DELETE FROM cdp.segment_due t WHERE t.profile_id OPERATOR(pg_catalog.=) pid;
    PERFORM pg_catalog.pg_notify('cdp_profiles', pg_catalog.json_build_object('event', 'forgotten', 'profile_id', pid,
                                                                               'erasure_id', eid)::pg_catalog.text);
    -- the audit row (written here, where the erasure is, so no path erases without one) holds
    -- the ledger's erasure id and counts, never the profile id
    RETURN cdp._audit('erasure.forget', NULL, pg_catalog.jsonb_build_object('erasure_id', eid, 'records', n_rec, 'identifiers_suppressed', n_ids,
                                         'source_rows_deleted', COALESCE(_forget.source_rows_deleted, 0), 'segment_exits', n_events));
END
$$;

CREATE FUNCTION cdp.forget(profile_id bigint, delete_source_rows boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r record;
    n integer := 0;
    k integer;
BEGIN
    IF profile_id IS NULL THEN
        RAISE EXCEPTION 'profile_id must be given' USING ERRCODE = '22004';
    END IF;
    IF delete_source_rows THEN
        -- with the caller's own rights: deleting a row of an application's table needs DELETE on it
        FOR r IN SELECT * FROM cdp._forget_source_rows(profile_id) LOOP
            EXECUTE pg_catalog.format('DELETE FROM %s WHERE %I OPERATOR(pg_catalog.=) $1::%s', r.source_table, r.key_column, r.key_type)
              USING r.source_key;
            GET DIAGNOSTICS k = ROW_COUNT;
            n := n OPERATOR(pg_catalog.+) k;
        END LOOP;
    END IF;
    RETURN cdp._forget(profile_id, n);
END
$$;
COMMENT ON FUNCTION cdp.forget(bigint, boolean) IS
'Erase a person (GDPR Art. 17, KVKK Art. 7): remove the profile and everything pg_cdp holds of it, put its identifiers (salted hashes) on the suppression list so their rows do not come back, write the ledger row; with delete_source_rows, also delete the source rows, with the caller''s rights. Returns counts.';

-- An identifier value as the records hold it (normalised), for cdp.forget_by and
-- cdp.unsuppress; 22023 for another attribute or a value that cannot be used.
CREATE FUNCTION cdp._identifier_value(attribute text, value text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v text;
BEGIN
    IF attribute IS NULL OR attribute OPERATOR(pg_catalog.<>) ALL (ARRAY['email', 'phone', 'national_id', 'external_id', 'anonymous_id']) THEN
        RAISE EXCEPTION 'an identifier is needed: email, phone, national_id, external_id or anonymous_id, not %', COALESCE(attribute, 'NULL')
              USING ERRCODE = '22023', HINT = 'to erase a person found otherwise, call cdp.forget with the profile id';
    END IF;
    SELECT x.value INTO v FROM cdp.normalise(attribute, value) x;
    IF v IS NULL THEN
        RAISE EXCEPTION 'the value is not a usable %', attribute USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;

-- Erase everyone holding an identifier value (as given: normalised first, as the records hold it).
CREATE FUNCTION cdp.forget_by(attribute text, value text, delete_source_rows boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v    text;
    pid  bigint;
    outs jsonb := '[]'::jsonb;
BEGIN
    v := cdp._identifier_value(attribute, value);
    FOR pid IN EXECUTE pg_catalog.format(
        'SELECT DISTINCT r.profile_id FROM cdp.records r WHERE r.%I OPERATOR(pg_catalog.=) $1 AND r.profile_id IS NOT NULL ORDER BY 1',
        attribute) USING v LOOP
        outs := outs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(cdp.forget(pid, delete_source_rows));
    END LOOP;
    -- the attribute only: the value is the person's
    PERFORM cdp._audit('erasure.forget_by', attribute, pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs)));
    RETURN pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs), 'erasures', outs);
END
$$;
COMMENT ON FUNCTION cdp.forget_by(text, text, boolean) IS
'Erase every profile holding an identifier value (email, phone, national_id, external_id, anonymous_id; normalised as the records hold it) with cdp.forget; returns how many and their erasures.';

-- The erasure ledger to keep outside the database: after restoring a backup taken before some
-- erasures, cdp.reapply_erasures erases those people again. It holds the salt of the hashes
-- (a restored database older than the first erasure has none): keep it like a backup.
CREATE FUNCTION cdp.export_erasures()
RETURNS jsonb
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'salt', (SELECT e.salt FROM cdp.erasure_salt e),
        'erasures', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.erasure_id) FROM cdp.erasures x), '[]'::jsonb),
        'suppressions', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', s.key, 'erasure_id', s.erasure_id) ORDER BY s.key)
                                    FROM cdp.suppressions s), '[]'::jsonb))
$$;
COMMENT ON FUNCTION cdp.export_erasures() IS
'The erasure ledger (the erasures, the suppressed identifier hashes and their salt) as one jsonb, to keep outside the database for cdp.reapply_erasures after a restore. Holds the salt: keep it like a backup.';

-- Bring a ledger's erasures into this database (after a restore): its salt, ledger rows and
-- suppressions, then every profile holding a suppressed identifier is forgotten.
CREATE FUNCTION cdp._reapply_ledger(ledger jsonb)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ledger_salt text := ledger OPERATOR(pg_catalog.->>) 'salt';
BEGIN
    IF ledger_salt IS NULL THEN
        RETURN;  -- no erasure in the ledger
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.erasure_salt e WHERE e.salt OPERATOR(pg_catalog.<>) ledger_salt) THEN
        RAISE EXCEPTION 'the ledger was hashed with another salt: it comes from another database' USING ERRCODE = '22023';
    END IF;
    INSERT INTO cdp.erasure_salt (salt) SELECT ledger_salt WHERE NOT EXISTS (SELECT 1 FROM cdp.erasure_salt);
    INSERT INTO cdp.erasures OVERRIDING SYSTEM VALUE
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::cdp.erasures, ledger OPERATOR(pg_catalog.->) 'erasures')
    ON CONFLICT (erasure_id) DO NOTHING;
    PERFORM pg_catalog.setval('cdp.erasures_erasure_id_seq', GREATEST((SELECT pg_catalog.max(e.erasure_id) FROM cdp.erasures e), 1));
    INSERT INTO cdp.suppressions (key, erasure_id)
    SELECT x.key, x.erasure_id FROM pg_catalog.jsonb_to_recordset(ledger OPERATOR(pg_catalog.->) 'suppressions') AS x(key text, erasure_id bigint)
    ON CONFLICT (key) DO NOTHING;
    RETURN QUERY
    SELECT DISTINCT r.profile_id FROM cdp.records r
     WHERE r.profile_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_catalog.unnest(cdp._record_hashes(r, ledger_salt)) h(k)
                    JOIN cdp.suppressions s ON s.key OPERATOR(pg_catalog.=) h.k)
     ORDER BY 1;
END
$$;

CREATE FUNCTION cdp.reapply_erasures(ledger jsonb, delete_source_rows boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    pid  bigint;
    outs jsonb := '[]'::jsonb;
BEGIN
    IF ledger IS NULL THEN
        RAISE EXCEPTION 'ledger must be given (the output of cdp.export_erasures)' USING ERRCODE = '22004';
    END IF;
    FOR pid IN SELECT * FROM cdp._reapply_ledger(ledger) LOOP
        outs := outs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(cdp.forget(pid, delete_source_rows));
    END LOOP;
    PERFORM cdp._audit('erasure.reapply', NULL, pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs)));
    RETURN pg_catalog.jsonb_build_object('profiles', pg_catalog.jsonb_array_length(outs), 'erasures', outs);
END
$$;
COMMENT ON FUNCTION cdp.reapply_erasures(jsonb, boolean) IS
'After restoring a backup taken before some erasures: take the ledger kept with cdp.export_erasures, and forget every profile holding one of its suppressed identifiers (with delete_source_rows, their source rows too, with the caller''s rights).';

-- A person who comes back (a new consent, a new contract): one identifier off the suppression
-- list; their rows become records at the next sync of their sources.
CREATE FUNCTION cdp.unsuppress(attribute text, value text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v    text;
    salt text;
    k    text;
    n    integer;
BEGIN
    v := cdp._identifier_value(attribute, value);
    SELECT e.salt INTO salt FROM cdp.erasure_salt e;
    IF salt IS NULL THEN
        RETURN false;  -- nobody was ever erased
    END IF;
    k := cdp._identifier_hash(attribute, v, salt);
    DELETE FROM cdp.suppressions s WHERE s.key OPERATOR(pg_catalog.=) k;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM cdp._audit('erasure.unsuppress', attribute, pg_catalog.jsonb_build_object('was_suppressed', n OPERATOR(pg_catalog.>) 0));
    RETURN n OPERATOR(pg_catalog.>) 0;
END
$$;
COMMENT ON FUNCTION cdp.unsuppress(text, text) IS
'Take one identifier value (normalised as records hold it) off the suppression list, for a person who comes back: their rows become records at the next sync of their sources. Returns whether it was on the list; the ledger keeps its rows.';
