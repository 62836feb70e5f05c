-- What a DBA's database holds after using pg_cdp for a while: run against a released version
-- (tests/upgrade/make-fixture) to make the database the upgrade test updates.
CREATE EXTENSION pg_cdp;
CREATE TABLE public.shop (id int PRIMARY KEY, mail text, name text, gsm text, city text);
INSERT INTO public.shop
SELECT g, 'person' || (g % 40) || '.u@gmail.com', 'Ayşe Yılmaz' || (g % 40), '0532 200 ' || lpad((g % 40)::text, 4, '0'),
       (ARRAY['İstanbul', 'Ankara', 'İzmir'])[1 + g % 3]
  FROM generate_series(1, 100) g;
CREATE TABLE public.store (code text PRIMARY KEY, email text, full_name text, phone text);
INSERT INTO public.store
SELECT 'S' || g, 'PERSON' || (g % 30) || '.U@GMAIL.COM', 'AYSE YILMAZ' || (g % 30), '+90 532 200 ' || lpad((g % 30)::text, 4, '0')
  FROM generate_series(1, 60) g;
INSERT INTO public.store VALUES ('S-null', NULL, NULL, NULL);
CREATE TABLE public.shop_orders (id serial PRIMARY KEY, customer int, amount numeric, at timestamptz, channel text);
INSERT INTO public.shop_orders (customer, amount, at, channel)
SELECT 1 + g % 100, 10 + g % 90, now() - (g || ' days')::interval, (ARRAY['web', 'app'])[1 + g % 2]
  FROM generate_series(1, 300) g;
CREATE TABLE public.clicks (id serial PRIMARY KEY, customer int, kind text, at timestamptz);
INSERT INTO public.clicks (customer, kind, at)
SELECT 1 + g % 50, (ARRAY['page_view', 'add_to_cart'])[1 + g % 2], now() - (g || ' hours')::interval
  FROM generate_series(1, 200) g;

SELECT cdp.add_source('public.shop', 'id', '{"email": "mail", "full_name": "name", "phone": "gsm", "city": "city"}');
SELECT cdp.add_source('public.store', 'code', '{"email": "email", "full_name": "full_name", "phone": "phone"}');
SELECT cdp.sync_source('public.shop');
SELECT cdp.sync_source('public.store');
SELECT cdp.set_survivorship('full_name', 'most_recent');
SELECT cdp.resolve();
-- a merge through the change queue, and steward decisions both ways
UPDATE public.shop SET mail = 'person1.u@gmail.com', gsm = '0532 200 0001', name = 'Ayşe Yılmaz1' WHERE id = 2;
SELECT cdp.process_changes();
SELECT cdp.force_link(5, 7);
SELECT cdp.force_split(3);
SELECT cdp.resolve_changes();

SELECT cdp.add_transaction_source('public.shop_orders', 'public.shop', 'customer', 'amount', 'at', channel => 'web');
SELECT cdp.add_event_source('public.clicks', 'public.shop', 'customer', 'kind', 'at');
SELECT cdp.define_trait('big_orders', 'count(*) FILTER (WHERE amount > 80)');
SELECT cdp.define_trait('cart_adds', $$count(*) FILTER (WHERE event_type = 'add_to_cart')$$, over => 'events');
SELECT cdp.compute_traits();
SELECT cdp.compute_rfm();
SELECT cdp.compute_clv();
SELECT cdp.define_segment('big buyers', 'big_orders >= 1', holdout_percent => 20);
SELECT cdp.define_segment('carts', 'cart_adds > 0 AND days_since_last_order > 3');
SELECT cdp.define_segment('web', 'orders_web >= 1 AND segment IS NOT NULL');
SELECT cdp.ack_events('crm', 5);
