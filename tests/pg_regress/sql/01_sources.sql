-- Registering sources and syncing them: the public SQL contract, as a user sees it.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
SET cdp.default_country = 'TR';

CREATE TABLE public.web_signups (
    signup_id bigint PRIMARY KEY, email text, full_name text, phone text, birth_date text, city text);
INSERT INTO public.web_signups VALUES
    (1, 'Ayse.Yilmaz@Gmail.com', 'Ayşe Yılmaz', '+90 532 123 45 67', '1990-03-17', 'İstanbul'),
    (2, 'mehmet.k@hotmail.com ', 'Mr. Mehmet Kaya', '05551112233', '03/04/1985', 'Ankara'),
    (3, 'test@test.com', 'N/A', '0000000000', '30.02.1990', 'izmir'),
    (4, 'broken-at-example.com', 'Yılmaz, Ayşe', '532 123 45 67', '19900317', NULL);

CREATE TABLE public.store_customers (
    customer_no text PRIMARY KEY, first_name text, last_name text, gsm text, street text,
    postcode text, gender text, national_id text, born date);
INSERT INTO public.store_customers VALUES
    ('S1', 'AYSE', 'YILMAZ', '0532 123 4567', 'Atatürk Cad. No:12', '34710', 'K', '10000000146', '1990-03-17'),
    ('S2', 'Işıl', 'Çağrı', '(532) 765-43-21', 'Bağdat Cd. 145', ' 34 728 ', 'female', '10000000147', NULL);

SELECT cdp.add_source('public.web_signups', 'signup_id',
    '{"email":"email","full_name":"full_name","phone":"phone","birth_date":"birth_date","city":"city"}',
    channel => 'web', priority => 10) AS web_source;
SELECT cdp.add_source('public.store_customers', 'customer_no',
    '{"first_name":"first_name","last_name":"last_name","phone":"gsm","street":"street","postcode":"postcode","gender":"gender","national_id":"national_id","birth_date":"born"}',
    'store') AS store_source;

SELECT source_id, source_table, key_column, channel, priority, mapping FROM cdp.sources ORDER BY source_id;

SELECT cdp.sync_source('public.web_signups') AS web_records;
SELECT cdp.sync_source('public.store_customers') AS store_records;

-- normalised matching forms. The syncs above ran under pg_regress's DateStyle 'Postgres, MDY':
-- date columns are read as ISO whatever the session's DateStyle, text dates per cdp.date_order.
SET datestyle = 'ISO';
SELECT s.channel, r.source_key, r.first_name, r.last_name, r.full_name, r.email, r.phone, r.birth_date, r.city
  FROM cdp.records r JOIN cdp.sources s USING (source_id) ORDER BY s.channel, r.source_key;
SELECT r.source_key, r.street, r.postcode, r.gender, r.national_id
  FROM cdp.records r JOIN cdp.sources s USING (source_id) WHERE s.channel = 'store' ORDER BY r.source_key;

-- every value that could not be used, with its reason; the original stays
SELECT s.channel, r.source_key, r.quality FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE r.quality <> '{}' ORDER BY s.channel, r.source_key;
SELECT original FROM cdp.records WHERE source_key = '3';
SELECT channel, attribute, reason, records FROM cdp.quality_report ORDER BY channel, attribute, reason;
SELECT source_table, channel, records, records_with_issues, quarantined FROM cdp.source_summary ORDER BY source_id;

-- re-running changes nothing
SELECT cdp.sync_source('public.web_signups');
SELECT last_sync - 'seconds' AS last_sync FROM cdp.sources WHERE channel = 'web';

-- changes, deletes and new rows are followed
UPDATE public.web_signups SET phone = '+44 20 7946 0018' WHERE signup_id = 2;
DELETE FROM public.web_signups WHERE signup_id = 4;
INSERT INTO public.web_signups VALUES (5, 'can@yandex.com.tr', 'Can Öztürk', NULL, NULL, NULL);
SELECT cdp.sync_source('public.web_signups');
SELECT last_sync - 'seconds' AS last_sync FROM cdp.sources WHERE channel = 'web';
SELECT source_key, phone FROM cdp.records r JOIN cdp.sources s USING (source_id) WHERE s.channel = 'web' ORDER BY source_key;

-- the normaliser on its own
SELECT * FROM cdp.normalise('phone', '0 (532) 123 45 67');
SELECT * FROM cdp.normalise('email', 'test@test.com');
SELECT * FROM cdp.normalise('first_name', 'İSMAİL');
SELECT * FROM cdp.normalise('birth_date', '31.04.1990');
SELECT * FROM cdp.normalise('country', 'Türkiye');

SELECT cdp.drop_source('public.store_customers');
SELECT count(*) AS store_records_left FROM cdp.records r WHERE NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.source_id = r.source_id);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.store_customers'::regclass ORDER BY tgname;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.web_signups'::regclass ORDER BY tgname;

-- dropping the extension removes its capture triggers and leaves the user's tables and rows alone
SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
RESET client_min_messages;
SELECT count(*) AS capture_triggers_left FROM pg_trigger WHERE tgname LIKE 'cdp\_%';
SELECT count(*) AS web_rows_kept FROM public.web_signups;
DROP TABLE public.web_signups, public.store_customers;
