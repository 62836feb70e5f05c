-- What an analyst sees: every profile through cdp.profiles_masked, each attribute masked by its
-- rule (cdp.masking), never the records, the profiles or the salt of the hash rule.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
DROP TABLE IF EXISTS public.crm;
DROP ROLE IF EXISTS regress_cdp_analyst;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
CREATE ROLE regress_cdp_analyst;
GRANT cdp_analyst TO regress_cdp_analyst;
CREATE TABLE public.crm (id int PRIMARY KEY, name text, mail text, gsm text, born date, street text, pc text,
                         town text, tckn text, device text);
INSERT INTO public.crm VALUES
  (1, 'ayşe nur yılmaz', 'Ayse.Yilmaz@Gmail.com', '0532 123 45 67', '1990-03-17', 'Bağdat Cad. 12', '34710', 'İstanbul', '10000000146', 'dev-1'),
  (2, 'AYŞE NUR YILMAZ', 'ayse.yilmaz@gmail.com', NULL, '1990-03-17', NULL, NULL, 'İstanbul', NULL, 'dev-1'),
  (3, 'İsmail Şahin', 'ismail@sahin-aile.com.tr', '+90 533 765 43 21', '1985-11-02', 'Atatürk Blv. 5', '06420', 'Ankara', NULL, 'dev-2'),
  (4, 'Mary-Jane O''Brien', 'mj@example-mail.co.uk', '+44 20 7946 0958', '1979-06-30', '1 High St', 'SW1A 1AA', 'London', NULL, 'dev-3');
SET client_min_messages = warning;
SELECT cdp.add_source('public.crm', 'id', '{"full_name":"name","email":"mail","phone":"gsm","birth_date":"born",
  "street":"street","postcode":"pc","city":"town","national_id":"tckn","anonymous_id":"device"}') AS source_id;
SELECT cdp.sync_source('public.crm') AS synced;
SELECT (cdp.resolve()->>'profiles')::int AS profiles;
RESET client_min_messages;

-- the rules in force: all defaults
SELECT attribute, rule, is_default FROM cdp.masking;

-- every profile, masked; the same device hashes to the same text (countable), others differ
SELECT full_name, email, phone, birth_date, street, city, postcode, national_id,
       left(anonymous_id, 2) AS hash_prefix, length(anonymous_id) AS hash_length
  FROM cdp.profiles_masked ORDER BY profile_id;
SELECT count(DISTINCT anonymous_id) AS distinct_devices, count(*) AS profiles FROM cdp.profiles_masked;

-- a rule changed, another back to its default, and the errors
SELECT cdp.set_masking('city', 'remove'), cdp.set_masking('postcode', 'keep');
SELECT full_name, city, postcode FROM cdp.profiles_masked ORDER BY profile_id;
SELECT cdp.set_masking('city', NULL);
SELECT attribute, rule FROM cdp.masking WHERE NOT is_default;
SELECT cdp.set_masking('email', 'partial');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.set_masking('shoe_size', 'keep');
\echo :LAST_ERROR_SQLSTATE

-- an analyst reads the masked view and the value tables, nothing personal
SET ROLE regress_cdp_analyst;
SELECT count(*) AS masked_profiles FROM cdp.profiles_masked;
SELECT count(*) AS rfm_rows FROM cdp.rfm;
SELECT email FROM cdp.profiles;
\echo :LAST_ERROR_SQLSTATE
SELECT email FROM cdp.records;
\echo :LAST_ERROR_SQLSTATE
SELECT value FROM cdp.secrets;
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.set_masking('email', 'keep');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.explain_profile(1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- nor may an administrator read the salt
SET ROLE cdp_admin;
SELECT value FROM cdp.secrets;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
DROP TABLE public.crm;
DROP ROLE regress_cdp_analyst;
