-- Customer value: transaction sources and RFM over unified profiles.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE TABLE public.web (id int PRIMARY KEY, mail text, name text);
INSERT INTO public.web VALUES
  (1, 'ayse.yilmaz@gmail.com', 'Ayşe Yılmaz'),
  (2, 'mehmet.kaya@hotmail.com', 'Mehmet Kaya'),
  (3, 'elif.aydin@gmail.com', 'Elif Aydın'),
  (4, 'ayse.yilmaz@gmail.com', 'Ayse Yilmaz');   -- ayşe again: one profile with row 1
SET client_min_messages = warning;
SELECT cdp.add_source('public.web', 'id', '{"email":"mail","full_name":"name"}', 'web');
SELECT cdp.sync_source('public.web');
SELECT (cdp.resolve())->'profiles' AS profiles;
RESET client_min_messages;

-- a profile named by its first web row, for stable output
CREATE FUNCTION pg_temp.web_row(pid bigint) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT m.source_key FROM cdp.profile_members m WHERE m.profile_id = pid ORDER BY m.source_key LIMIT 1 $$;

CREATE TABLE public.orders (id int PRIMARY KEY, customer int, amount numeric(10,2), at timestamptz, cur text);
INSERT INTO public.orders VALUES
  (1, 1, 100, '2026-10-31', 'TRY'), (2, 4, 100, '2026-10-30', 'TRY'), (3, 1, 100, '2026-10-29', 'TRY'),
  (4, 4, 100, '2026-10-28', 'TRY'), (5, 1, 100, '2026-10-27', 'TRY'),
  (6, 1, -50, '2026-10-26', 'TRY'),                     -- a refund: subtracts, is no order
  (7, 3, 300, '2026-07-24', 'TRY'), (8, 3, 300, '2026-07-23', 'TRY'),
  (9, 2, 1000, '2025-09-27', 'TRY'),
  (10, 2, NULL, '2026-10-01', 'TRY'),                   -- kept aside: no amount
  (11, 2, 10, NULL, 'TRY'),                             -- kept aside: no time
  (12, 3, 10, '2027-01-01', 'TRY'),                     -- kept aside: in the future
  (13, 99, 10, '2026-10-01', 'TRY');                    -- kept aside: no such customer

SELECT cdp.add_transaction_source('public.orders', 'public.web', 'customer', 'amount', 'at', 'web', 'cur') AS tsource;
SELECT status, transactions FROM cdp.transaction_report ORDER BY status;

SELECT cdp.compute_rfm('2026-11-01 00:00+00') AS profiles_scored;
-- ayşe: 5 orders, last 1 day ago, 450 net; elif: 2 orders, 100 days ago, 600; mehmet: 1 order 400 days ago, 1000
SELECT pg_temp.web_row(r.profile_id) AS web_row,
       recency_days, frequency, monetary_total, monetary_avg, r_score, f_score, m_score, rfm_cell, segment
  FROM cdp.rfm r ORDER BY web_row;
SELECT r_score, f_score, profiles, avg_monetary, segment FROM cdp.rfm_grid() WHERE profiles > 0 OR (r_score, f_score) IN ((5, 5), (1, 5));
SELECT count(*) AS grid_cells, count(DISTINCT segment) AS segments FROM cdp.rfm_grid();

-- the segment map is data: replace it with a coarse one
INSERT INTO cdp.rfm_segment_map VALUES ('Recent', 3, 5, 1, 5), ('Lapsed', 1, 2, 1, 5);
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
SELECT rfm_cell, segment FROM cdp.rfm ORDER BY rfm_cell;
-- a map that leaves cells uncovered is refused
DELETE FROM cdp.rfm_segment_map WHERE segment = 'Lapsed';
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM cdp.rfm_segment_map;
SELECT count(*) AS standard_segments FROM cdp.rfm_segments;

-- fixed thresholds by setting instead of quintiles (per measure; the others stay quintiles)
SET cdp.rfm_recency_thresholds = '7, 30, 90, 365';
SET cdp.rfm_frequency_thresholds = '2,3,4,5';
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
-- ayşe: 1 day, 5 orders -> R5 F5; elif: 100 days, 2 orders -> R2 F2; mehmet: 400 days, 1 order -> R1 F1
SELECT pg_temp.web_row(r.profile_id) AS web_row,
       recency_days, frequency, r_score, f_score, m_score, segment
  FROM cdp.rfm r ORDER BY web_row;
SET cdp.rfm_monetary_thresholds = '100, 200, 300';
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SET cdp.rfm_monetary_thresholds = '100, 500, 200, 900';
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
RESET cdp.rfm_recency_thresholds;
RESET cdp.rfm_frequency_thresholds;
RESET cdp.rfm_monetary_thresholds;
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
SELECT pg_temp.web_row(r.profile_id) AS web_row,
       r_score, f_score, m_score
  FROM cdp.rfm r ORDER BY web_row;

-- the fit's input per profile, in days (the session's time zone decides where a day starts):
-- ayşe bought on 5 days (the refund day is no purchase), elif on 2, mehmet on 1
SELECT pg_temp.web_row(s.profile_id) AS web_row,
       frequency, recency, round(t::numeric, 3) AS t, monetary_value, orders, historical_value
  FROM cdp.clv_summary('2026-11-01 00:00+00') s ORDER BY web_row;
-- lifetime value: BG/NBD + Gamma-Gamma fitted over the profiles, predictions per profile
SELECT (x ? 'params') AS has_params, x->'profiles' AS profiles
  FROM cdp.compute_clv('2026-11-01 00:00+00', '1 year', 0.1) x;
SELECT pg_temp.web_row(c.profile_id) AS web_row,
       orders, historical_value, p_alive BETWEEN 0 AND 1 AS p_alive_ok, expected_purchases >= 0 AS purchases_ok,
       predicted_clv >= 0 AS clv_ok
  FROM cdp.clv c ORDER BY web_row;
SELECT name, segment, orders, historical_value FROM cdp.customer_360 ORDER BY name;
SELECT customers, jsonb_typeof(params->'bg_nbd'->'r') AS r, jsonb_typeof(params->'gamma_gamma'->'p') AS p FROM cdp.clv_model;

-- traits: built in, custom, and k-means clusters over them
SELECT cdp.define_trait('big_orders', 'count(*) FILTER (WHERE amount >= 300)');
SELECT cdp.compute_traits('2026-11-01 00:00+00') AS profiles_with_traits;
SELECT pg_temp.web_row(t.profile_id) AS web_row,
       t.trait, round(t.value::numeric, 2) AS value, t.text_value
  FROM cdp.profile_traits t
 WHERE t.trait IN ('orders', 'revenue', 'average_order_value', 'preferred_channel', 'orders_web', 'big_orders', 'days_since_last_order')
 ORDER BY web_row, t.trait;
SELECT x - 'inertia' AS clustering, (x->>'inertia')::numeric >= 0 AS inertia_ok
  FROM cdp.cluster_profiles(2, ARRAY['orders', 'revenue'], 7) x;
-- ayşe (5 small orders) apart from elif and mehmet (few large ones)
SELECT count(DISTINCT value) AS clusters,
       (SELECT count(*) FROM cdp.profile_traits a JOIN cdp.profile_traits b USING (trait, value)
         WHERE trait = 'cluster' AND a.profile_id < b.profile_id) AS same_cluster_pairs
  FROM cdp.profile_traits WHERE trait = 'cluster';
SELECT name, traits->>'orders' AS orders, traits ? 'cluster' AS clustered FROM cdp.customer_360 ORDER BY name;
SELECT cdp.define_trait('Big Orders', 'count(*)');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('revenue', 'sum(amount)');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('broken', 'sum(no_such_column)');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.cluster_profiles(2, ARRAY['shoe_size']);
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.cluster_profiles(5, ARRAY['orders']);
\echo :LAST_ERROR_SQLSTATE

-- bad input
SELECT cdp.compute_clv('2026-11-01', '-1 year');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.compute_rfm('2026-11-01', '-1 day');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO public.orders VALUES (14, 1, 20, '2026-10-20', 'EUR');
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.compute_clv('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.compute_traits('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
-- a conversion rule: with a rate for every currency, amounts are converted to one reporting currency
INSERT INTO cdp.currency_rates (currency, rate) VALUES ('EUR', 35);
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO cdp.currency_rates (currency, rate) VALUES ('TRY', 1);
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
-- ayşe: 450 TRY + 20 EUR × 35 = 1150, six orders now
SELECT pg_temp.web_row(r.profile_id) AS web_row,
       frequency, monetary_total FROM cdp.rfm r ORDER BY web_row;
SELECT pg_temp.web_row(s.profile_id) AS web_row,
       orders, historical_value FROM cdp.clv_summary('2026-11-01 00:00+00') s ORDER BY web_row;
-- a transaction source without a currency column cannot be converted: refused, not dropped
CREATE VIEW public.orders_nocur AS SELECT id, customer, amount, at FROM public.orders;
SELECT cdp.add_transaction_source('public.orders_nocur', 'public.web', 'customer', 'amount', 'at') > 0 AS registered;
SELECT cdp.compute_rfm('2026-11-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
DELETE FROM cdp.transaction_sources WHERE source_table = 'public.orders_nocur'::regclass;
DROP VIEW public.orders_nocur;
-- an order without a currency cannot be converted: kept aside with the reason
INSERT INTO public.orders VALUES (15, 3, 10, '2026-10-20', NULL);
SELECT status, transactions FROM cdp.transaction_report ORDER BY status;
\set VERBOSITY terse
INSERT INTO cdp.currency_rates (currency, rate) VALUES ('USD', 0);
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
DELETE FROM cdp.currency_rates;
SELECT cdp.add_transaction_source('public.orders', 'public.web', 'customer', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE public.orders2 (id int, customer int, amount text, at timestamptz);
SELECT cdp.add_transaction_source('public.orders2', 'public.web', 'customer', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_transaction_source('public.orders2', 'public.web', 'client', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_transaction_source('public.orders2', 'public.orders', 'customer', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
-- the time must be a timestamp or date; types are judged through domains, so a domain over
-- numeric is an amount
CREATE DOMAIN public.price AS numeric CHECK (VALUE >= 0);
CREATE TABLE public.orders3 (id int PRIMARY KEY, customer int, amount public.price, at text);
SELECT cdp.add_transaction_source('public.orders3', 'public.web', 'customer', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE public.orders3 ALTER COLUMN at TYPE date USING NULL;
SELECT cdp.add_transaction_source('public.orders3', 'public.web', 'customer', 'amount', 'at') > 0 AS registered;

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
RESET client_min_messages;
DROP TABLE public.web, public.orders, public.orders2, public.orders3;
DROP DOMAIN public.price;
