-- The four channel tables of the generated data as pg_cdp sources (the mapping the resolve
-- benchmarks use), synced once. Used by bench/resolve_bench and bench/incremental_bench.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
SELECT cdp.add_source('demo.web_signups', 'signup_id',
  '{"email":"email","full_name":"full_name","phone":"phone","birth_date":"birth_date","city":"city"}', 'web', 20);
SELECT cdp.add_source('demo.store_customers', 'customer_no',
  '{"first_name":"first_name","last_name":"last_name","phone":"phone","street":"street","postcode":"postcode","city":"city","gender":"gender","national_id":"national_id"}', 'store', 30);
SELECT cdp.add_source('demo.call_center_contacts', 'contact_id',
  '{"full_name":"caller_name","phone":"phone","email":"email","birth_date":"dob","region":"region"}', 'call_center', 10);
SELECT cdp.add_source('demo.app_users', 'user_id',
  '{"first_name":"given_name","last_name":"family_name","email":"email","phone":"phone","birth_date":"birth_date","country":"country","external_id":"user_id"}', 'app', 25);
SELECT cdp.sync_source(source_table) FROM cdp.sources ORDER BY source_id;
VACUUM ANALYZE cdp.records;
