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
AS $$ SELECT cdp._set_masking(attribute, rule) $$;
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
