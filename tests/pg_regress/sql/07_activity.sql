-- Behaviour events and orders keep traits current: registration, capture, event traits, the
-- worker's trait refresh (called here as the worker calls it) and the segments it moves.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
DROP ROLE IF EXISTS regress_cdp_shop;
CREATE ROLE regress_cdp_shop;
GRANT cdp_admin TO regress_cdp_shop;
GRANT CREATE ON SCHEMA public TO regress_cdp_shop;
RESET client_min_messages;

-- the shop's own tables, owned by the shop's role: customers, web visits (an anonymous cookie
-- stitched to a customer by e-mail), orders and behaviour events
SET ROLE regress_cdp_shop;
CREATE TABLE public.customers (id integer PRIMARY KEY, mail text, name text);
INSERT INTO public.customers VALUES (1, 'ayse.yilmaz@gmail.com', 'Ayşe Yılmaz'), (2, 'mehmet.kaya@hotmail.com', 'Mehmet Kaya');
CREATE TABLE public.visitors (cookie text PRIMARY KEY, mail text);
INSERT INTO public.visitors VALUES ('c-1f3a', 'ayse.yilmaz@gmail.com'), ('c-9b2e', NULL);
CREATE TABLE public.orders (id integer PRIMARY KEY, customer integer, amount numeric, at timestamptz);
INSERT INTO public.orders VALUES (1, 1, 120, now() - interval '20 days'), (2, 2, 40, now() - interval '3 days');
CREATE TABLE public.web_events (id bigserial PRIMARY KEY, cookie text, kind text, at timestamptz, amount numeric);
CREATE INDEX ON public.web_events (cookie);
INSERT INTO public.web_events (cookie, kind, at) VALUES
    ('c-1f3a', 'page_view', now() - interval '21 days'), ('c-9b2e', 'page_view', now() - interval '1 day');
SET client_min_messages = warning;
SELECT cdp.add_source('public.customers', 'id', '{"email":"mail","full_name":"name"}') > 0 AS registered;
SELECT cdp.add_source('public.visitors', 'cookie', '{"email":"mail"}') > 0 AS registered;
RESET client_min_messages;
SELECT cdp.add_transaction_source('public.orders', 'public.customers', 'customer', 'amount', 'at', 'web') > 0 AS registered;

-- registration errors, by SQLSTATE
SELECT cdp.add_event_source('public.web_events', 'public.visitors', 'cookie', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_event_source('public.web_events', 'public.visitors', 'cookie', 'kind', 'when');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_event_source('public.web_events', 'public.orders', 'cookie', 'kind', 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_event_source('public.orders', 'public.customers', 'customer', 'amount', 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_event_source('public.web_events', 'public.visitors', 'at', 'kind', 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.add_event_source('public.web_events', 'public.visitors', 'cookie', 'kind', 'at', 'web') > 0 AS registered;
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname LIKE 'cdp_activity_%' AND t.tgenabled = 'A' ORDER BY 1, 2;

-- event traits: checked against the event columns
SELECT cdp.define_trait('cart_adds', 'count(*) FILTER (WHERE event_type = ''add_to_cart'')', over => 'events');
SELECT cdp.define_trait('last_cart_add', 'max(extract(epoch FROM occurred_at)) FILTER (WHERE event_type = ''add_to_cart'')', over => 'events');
SELECT cdp.define_trait('spend_on_events', 'sum(amount)', over => 'events');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_trait('views', 'count(*)', over => 'clicks');
\echo :LAST_ERROR_SQLSTATE
SELECT trait, over FROM cdp.trait_definitions ORDER BY trait;
RESET ROLE;

SET client_min_messages = warning;
SELECT cdp.sync_source('public.customers') + cdp.sync_source('public.visitors') AS records;
SELECT (cdp.resolve() ->> 'profiles')::int AS profiles;
RESET client_min_messages;
CREATE TEMP TABLE who AS
SELECT r.source_key AS customer, r.profile_id FROM cdp.records r JOIN cdp.sources s USING (source_id)
 WHERE s.source_table = 'public.customers'::regclass;
-- the cookie c-1f3a is Ayşe's profile; c-9b2e is a profile of its own
SELECT r.source_key, w.customer FROM cdp.records r LEFT JOIN who w USING (profile_id)
 WHERE r.source_id = (SELECT source_id FROM cdp.sources WHERE source_table = 'public.visitors'::regclass) ORDER BY 1;

SET ROLE regress_cdp_shop;
SELECT cdp.compute_traits() > 0 AS computed;
SELECT cdp.define_segment('abandoned cart', 'cart_adds > 0 AND last_cart_add > coalesce(last_seen, 0)') > 0 AS defined;
RESET ROLE;
SELECT w.customer, t.trait, t.value FROM cdp.profile_traits t JOIN who w USING (profile_id)
 WHERE t.trait IN ('orders', 'cart_adds', 'last_cart_add') ORDER BY 1, 2;
SELECT count(*) AS members FROM cdp.segment_members WHERE segment = 'abandoned cart';
DELETE FROM cdp.activity_queue;      -- what add_event_source queued is covered by compute_traits

-- Ayşe adds to cart on the web (as her anonymous cookie): the capture trigger queues the cookie
-- only, in the application's transaction, and the worker's steps move her into the segment
SET ROLE regress_cdp_shop;
INSERT INTO public.web_events (cookie, kind, at) VALUES ('c-1f3a', 'add_to_cart', now()), ('c-1f3a', 'add_to_cart', now());
RESET ROLE;
SELECT s.source_table, q.source_key FROM cdp.activity_queue q JOIN cdp.sources s ON s.source_id = q.customer_source_id;
SELECT x ->> 'profiles' AS profiles, x ->> 'whole' AS whole FROM cdp._worker_traits(100) x;
SELECT w.customer, t.value AS cart_adds FROM cdp.profile_traits t JOIN who w USING (profile_id) WHERE t.trait = 'cart_adds';
SELECT x ->> 'enters' AS enters, x ->> 'exits' AS exits FROM cdp._worker_segments(100) x;
SELECT w.customer, e.op, e.reason FROM cdp.segment_events e JOIN who w USING (profile_id)
 WHERE e.segment = 'abandoned cart' ORDER BY e.event_id;

-- she orders: her traits follow, and she leaves the segment
SET ROLE regress_cdp_shop;
INSERT INTO public.orders VALUES (3, 1, 75, now());
RESET ROLE;
SELECT x ->> 'profiles' AS profiles FROM cdp._worker_traits(100) x;
SELECT w.customer, t.value AS orders FROM cdp.profile_traits t JOIN who w USING (profile_id) WHERE t.trait = 'orders' ORDER BY 1;
SELECT x ->> 'enters' AS enters, x ->> 'exits' AS exits FROM cdp._worker_segments(100) x;
SELECT w.customer, e.op, e.reason FROM cdp.segment_events e JOIN who w USING (profile_id)
 WHERE e.segment = 'abandoned cart' ORDER BY e.event_id;

-- deleted events and a truncated order table are followed as well
SET ROLE regress_cdp_shop;
DELETE FROM public.web_events WHERE kind = 'add_to_cart';
RESET ROLE;
SELECT x ->> 'profiles' AS profiles FROM cdp._worker_traits(100) x;
SELECT w.customer, t.value AS cart_adds FROM cdp.profile_traits t JOIN who w USING (profile_id) WHERE t.trait = 'cart_adds';
SET ROLE regress_cdp_shop;
TRUNCATE public.orders;
RESET ROLE;
SELECT x ->> 'whole' AS whole FROM cdp._worker_traits(100) x;
SELECT count(*) AS order_traits FROM cdp.profile_traits WHERE trait = 'orders';

-- the worker reads the shop's tables as their owner: an index predicate's function (run at plan
-- time) logs the shop's role, never the superuser that runs the worker
CREATE TABLE public.spy_log (who name);
GRANT INSERT ON public.spy_log TO PUBLIC;
SET ROLE regress_cdp_shop;
CREATE FUNCTION public.spy() RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO public.spy_log VALUES (current_user); RETURN true; END $$;
CREATE FUNCTION public.spy_at_plan() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM public.spy(); RETURN true; END $$;
CREATE INDEX web_events_planned ON public.web_events (cookie) WHERE public.spy_at_plan();
INSERT INTO public.web_events (cookie, kind, at) VALUES ('c-1f3a', 'add_to_cart', now());
RESET ROLE;
DELETE FROM public.spy_log;
SELECT x ->> 'profiles' AS profiles FROM cdp._worker_traits(100) x;
SELECT DISTINCT who FROM public.spy_log;
-- and only while the registering role may still read them
REVOKE SELECT ON public.web_events FROM regress_cdp_shop;
ALTER TABLE public.web_events OWNER TO postgres;
INSERT INTO public.web_events (cookie, kind, at) VALUES ('c-1f3a', 'add_to_cart', now());
SELECT cdp._worker_traits(100);
\echo :LAST_ERROR_SQLSTATE

-- unregistering removes the capture triggers
SELECT cdp.drop_event_source('public.web_events');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'public.web_events'::regclass AND tgname LIKE 'cdp_activity_%';
SELECT cdp.drop_event_source('public.web_events');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE public.orders;
SELECT count(*) AS transaction_sources FROM cdp.transaction_sources;

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
DROP TABLE public.customers, public.visitors, public.web_events, public.spy_log;
DROP FUNCTION public.spy_at_plan(), public.spy();
REVOKE CREATE ON SCHEMA public FROM regress_cdp_shop;
DROP ROLE regress_cdp_shop;
RESET client_min_messages;
