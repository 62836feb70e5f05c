-- Segments, the event outbox and catch-up: the SQL contract. (NOTIFY delivery and the worker's
-- incremental evaluation are tested from separate client connections, tests/client.)
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
CREATE EXTENSION pg_cdp;
RESET client_min_messages;

CREATE TABLE public.shoppers (id integer PRIMARY KEY, mail text, name text, phone text);
INSERT INTO public.shoppers VALUES
    (1, 'ayse.yilmaz@gmail.com', 'Ayşe Yılmaz', '0532 111 2233'),
    (2, 'mehmet.kaya@hotmail.com', 'Mehmet Kaya', '0533 444 5566'),
    (3, 'zeynep.demir@yandex.com', 'Zeynep Demir', '0534 777 8899'),
    (4, 'can.ozturk@gmail.com', 'Can Öztürk', '0535 123 4567');
CREATE TABLE public.purchases (id integer PRIMARY KEY, shopper integer, amount numeric, at timestamptz);
INSERT INTO public.purchases VALUES
    (1, 1, 120, '2026-11-01'), (2, 1, 80, '2026-11-20'), (3, 1, 300, '2026-11-28'),
    (4, 2, 40, '2025-01-10'),
    (5, 3, 1500, '2026-10-05'), (6, 3, 20, '2026-06-01');
SET client_min_messages = warning;
SELECT cdp.add_source('public.shoppers', 'id', '{"email":"mail","full_name":"name","phone":"phone"}') > 0 AS registered;
SELECT cdp.add_transaction_source('public.purchases', 'public.shoppers', 'shopper', 'amount', 'at') > 0 AS registered;
SELECT cdp.sync_source('public.shoppers');
SELECT (cdp.resolve() ->> 'profiles')::int AS profiles;
SELECT cdp.define_trait('big_orders', 'count(*) FILTER (WHERE amount >= 1000)');
SELECT cdp.compute_traits('2026-12-01') AS profiles_with_traits;
RESET client_min_messages;
CREATE TEMP TABLE who AS
SELECT r.source_key::int AS shopper, r.profile_id FROM cdp.records r;

-- rule validation, by SQLSTATE
SELECT cdp.define_segment('bad', 'revenue >');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'shoe_size > 42');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'revenue + 1');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'sum(revenue) > 1');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'revenue > (SELECT 1)');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'revenue > 1; DELETE FROM cdp.segments');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'pg_sleep(1) IS NULL');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.define_segment('bad', 'revenue > 1', holdout_percent => 120);
\echo :LAST_ERROR_SQLSTATE

-- a new segment is filled at once: one enter event per member (reason defined)
SELECT cdp.define_segment('big spenders', 'revenue >= 500', 'spent 500 or more') > 0 AS defined;
SELECT cdp.define_segment('whales', 'big_orders > 0 AND preferred_channel IS NULL') > 0 AS defined;
SELECT cdp.define_segment('big spenders', 'revenue >= 1');
\echo :LAST_ERROR_SQLSTATE
SELECT m.segment, w.shopper, m.holdout FROM cdp.segment_members m JOIN who w USING (profile_id) ORDER BY 1, 2;
SELECT e.event_id, e.segment, w.shopper, e.op, e.reason, e.holdout FROM cdp.segment_events e JOIN who w USING (profile_id) ORDER BY e.event_id;

-- nothing changed: a refresh writes no event
SELECT cdp.refresh_segments() -> 'segments' AS refreshed;

-- new orders, traits recomputed: Mehmet enters, nobody leaves; only the difference is written
INSERT INTO public.purchases VALUES (7, 2, 900, '2026-11-30');
SELECT cdp.compute_traits('2026-12-01') > 0 AS computed;
SELECT cdp.refresh_segments('big spenders') -> 'segments' AS refreshed;
SELECT e.event_id, e.segment, w.shopper, e.op, e.reason FROM cdp.segment_events e JOIN who w USING (profile_id)
 WHERE e.event_id > 2 ORDER BY e.event_id;

-- the rule changes: exits and enters for the difference
SELECT cdp.alter_segment('big spenders', rule => 'revenue >= 1000');
SELECT e.event_id, e.segment, w.shopper, e.op, e.reason FROM cdp.segment_events e JOIN who w USING (profile_id)
 WHERE e.event_id > 3 ORDER BY e.event_id;

-- catch-up: a consumer that saw event 2 gets exactly the later ones, in order; a position before
-- what retention deleted is an error, not a silent gap
SELECT array_agg(event_id ORDER BY event_id) AS after_2 FROM cdp.segment_events_since(2);
SELECT array_agg(event_id ORDER BY event_id) AS after_2_first_two FROM cdp.segment_events_since(2, 2);
SELECT count(*) AS after_last FROM cdp.segment_events_since((SELECT max(event_id) FROM cdp.segment_events));
SELECT cdp.ack_events('crm', 3);
SELECT consumer, last_event_id, events_behind, lost_events FROM cdp.consumer_lag;
INSERT INTO cdp.event_state (pruned_through) VALUES (3);     -- as retention records deleting events 1-3
SELECT * FROM cdp.segment_events_since(2);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS from_3 FROM cdp.segment_events_since(3);
SELECT consumer, lost_events FROM cdp.consumer_lag;
DELETE FROM cdp.event_state;

-- event ids are never reused, and follow the order events were written in
SELECT count(DISTINCT event_id) = count(*) AS unique_ids,
       bool_and(at >= coalesce(prev_at, at)) AS in_write_order
  FROM (SELECT event_id, at, lag(at) OVER (ORDER BY event_id) AS prev_at FROM cdp.segment_events) e;

-- a merge: the merged-away profile exits with the surviving id, the survivor's membership stays
UPDATE public.shoppers SET mail = 'ayse.yilmaz@gmail.com', name = 'Ayşe Yılmaz', phone = '0532 111 2233' WHERE id = 3;
SELECT cdp.process_changes();
SET client_min_messages = warning;
SELECT (cdp.resolve_changes() ->> 'merges')::int AS merges;
RESET client_min_messages;
SELECT cdp.refresh_segments() -> 'segments' AS refreshed;
SELECT e.segment, w.shopper, e.op, e.reason, e.merged_into = (SELECT profile_id FROM cdp.records WHERE source_key = '1') AS into_ayse
  FROM cdp.segment_events e JOIN who w USING (profile_id)
 WHERE e.reason = 'merged' ORDER BY 1, 2;

-- a rule on time: re-evaluated by the worker's step every cdp.segment_clock_interval, tested by
-- moving the clock rules read (cdp.clock_offset), not by waiting
SELECT cdp.define_segment('quiet for a month', 'updated_at < now() - interval ''30 days''') > 0 AS defined;
SELECT reads_clock FROM cdp.segments WHERE name = 'quiet for a month';
SELECT count(*) AS members_now FROM cdp.segment_members WHERE segment = 'quiet for a month';
SELECT cdp._worker_segments(1000) ->> 'enters' AS enters_at_once;
SET cdp.clock_offset = '31 days';
SELECT cdp._worker_segments(1000) ->> 'enters' AS enters_31_days_later;
SELECT e.reason, count(*) FROM cdp.segment_events e WHERE e.segment = 'quiet for a month' GROUP BY 1;
SELECT cdp._worker_segments(1000) ->> 'enters' AS enters_again_within_the_interval;
RESET cdp.clock_offset;
SELECT reads_clock FROM cdp.segments WHERE name = 'big spenders';
SELECT cdp.drop_segment('quiet for a month') AS exits;

-- due times: days_since_last_order moves with the clock. Two hours before Ayşe's last order turns
-- 30 days old, her change is stored (to within 30 s) and nobody else's is: the others do not
-- change within the horizon (a day)
SELECT set_config('cdp.clock_offset',
       ((SELECT to_timestamp(t.value) FROM cdp.profile_traits t JOIN who w USING (profile_id)
          WHERE w.shopper = 1 AND t.trait = 'last_seen') + interval '30 days' - interval '2 hours' - now())::text, false) IS NOT NULL AS clock_set;
SELECT cdp.define_segment('lapsing', 'days_since_last_order > 30') > 0 AS defined;
SELECT reads_clock, due_through - cdp._clock() BETWEEN interval '23 hours' AND interval '1 day' AS a_day_ahead FROM cdp.segments WHERE name = 'lapsing';
SELECT w.shopper, abs(extract(epoch FROM d.due_at - (to_timestamp(t.value) + interval '30 days'))) <= 30 AS due_when_30_days_pass
  FROM cdp.segment_due d JOIN who w USING (profile_id)
  JOIN cdp.profile_traits t ON t.profile_id = d.profile_id AND t.trait = 'last_seen'
 WHERE d.segment = 'lapsing';
SELECT w.shopper FROM cdp.segment_members m JOIN who w USING (profile_id) WHERE m.segment = 'lapsing' ORDER BY 1;
-- an hour later nothing is due; three hours later she enters, and only she is evaluated
SELECT set_config('cdp.clock_offset', (current_setting('cdp.clock_offset')::interval + interval '1 hour')::text, false) IS NOT NULL AS clock_moved;
SELECT cdp._worker_segments(1000) ->> 'enters' AS enters_an_hour_later;
SELECT set_config('cdp.clock_offset', (current_setting('cdp.clock_offset')::interval + interval '2 hours')::text, false) IS NOT NULL AS clock_moved;
CREATE TEMP TABLE horizon_before AS SELECT due_through FROM cdp.segments WHERE name = 'lapsing';
SELECT cdp._worker_segments(1000) ->> 'enters' AS enters_when_due;
SELECT w.shopper, e.op, e.reason FROM cdp.segment_events e JOIN who w USING (profile_id)
 WHERE e.segment = 'lapsing' AND e.reason = 'clock';
SELECT (SELECT due_through FROM cdp.segments WHERE name = 'lapsing') = h.due_through AS no_whole_evaluation,
       (SELECT count(*) FROM cdp.segment_due WHERE segment = 'lapsing') AS due_left
  FROM horizon_before h;
-- past the horizon the rule is evaluated whole once, and a new horizon starts
SELECT set_config('cdp.clock_offset', (current_setting('cdp.clock_offset')::interval + interval '2 days')::text, false) IS NOT NULL AS clock_moved;
SELECT cdp._worker_segments(1000) ->> 'enters' AS enters_after_the_horizon;
SELECT due_through > (SELECT due_through FROM horizon_before) AS new_horizon FROM cdp.segments WHERE name = 'lapsing';
RESET cdp.clock_offset;
SELECT cdp.drop_segment('lapsing') AS exits;

-- a segment whose rule names a trait that goes away fails alone: the worker's step records it and
-- goes on with the others (it is retried whole every cdp.segment_clock_interval)
CREATE TABLE public.web_purchases (id integer PRIMARY KEY, shopper integer, amount numeric, at timestamptz);
SELECT cdp.add_transaction_source('public.web_purchases', 'public.shoppers', 'shopper', 'amount', 'at', 'web') > 0 AS registered;
SELECT cdp.define_segment('web buyers', 'orders_web > 0') > 0 AS defined;
SELECT cdp.define_segment('all of them', 'profile_id > 0') > 0 AS defined;
DROP TABLE public.web_purchases;
INSERT INTO cdp.segment_dirty SELECT profile_id FROM cdp.profiles;
UPDATE cdp.segment_members SET profile_id = -profile_id WHERE segment = 'all of them';
SELECT (cdp._worker_segments(1000) ->> 'enters')::int > 0 AS others_evaluated;
SELECT name, failed_sqlstate FROM cdp.segments WHERE name IN ('web buyers', 'all of them') ORDER BY 1;
SELECT cdp.drop_segment('web buyers') >= 0 AS dropped, cdp.drop_segment('all of them') >= 0 AS dropped_too;

-- holdout: deterministic per segment and profile, near its share over 10,000 profiles
SELECT count(*) FILTER (WHERE cdp._holdout('s', g, 10)) AS held_out_of_10000,
       bool_and(cdp._holdout('s', g, 10) = cdp._holdout('s', g, 10)) AS stable,
       count(*) FILTER (WHERE cdp._holdout('s', g, 0)) AS none_at_0,
       count(*) FILTER (WHERE cdp._holdout('s', g, 100)) AS all_at_100
  FROM generate_series(1, 10000) g;

-- the holdout report: treated against held out, converters within the window after entering
SELECT cdp.define_segment('report me', 'profile_id > 0', holdout_percent => 50) > 0 AS defined;
SELECT w.shopper, m.holdout FROM cdp.segment_members m JOIN who w USING (profile_id) WHERE m.segment = 'report me' ORDER BY 1;
-- shopper 1 buys after entering (a converter); shopper 2's order is from before entering
INSERT INTO public.purchases VALUES (8, 1, 50, clock_timestamp()), (9, 2, 70, now() - interval '1 day');
SELECT jsonb_pretty(cdp.segment_report('report me', '30 days'));
SELECT cdp.segment_report('report me', '0 days');
\echo :LAST_ERROR_SQLSTATE
SELECT cdp.drop_segment('report me') AS exits;

-- the report's statistics with enough members: 1,000 customers, half held out; treated members
-- convert at 30%, held-out ones at 10% (orders after entering, within the window)
CREATE TABLE public.many (id integer PRIMARY KEY, mail text, name text);
INSERT INTO public.many SELECT g, 'many' || g || '.person@gmail.com', 'Person Number' || g FROM generate_series(1, 1000) g;
SET client_min_messages = warning;
SELECT cdp.add_source('public.many', 'id', '{"email":"mail","full_name":"name"}') > 0 AS registered;
SELECT cdp.sync_source('public.many') AS records;
SELECT (cdp.resolve() ->> 'profiles')::int > 1000 AS resolved;
CREATE TABLE public.many_orders (id integer PRIMARY KEY, customer integer, amount numeric, at timestamptz);
SELECT cdp.add_transaction_source('public.many_orders', 'public.many', 'customer', 'amount', 'at') > 0 AS registered;
SELECT cdp.define_segment('many', 'email LIKE ''many%''', holdout_percent => 50) > 0 AS defined;
RESET client_min_messages;
INSERT INTO public.many_orders
SELECT r.source_key::int, r.source_key::int, 100, clock_timestamp()
  FROM cdp.records r JOIN cdp.sources s USING (source_id) JOIN cdp.segment_members m USING (profile_id)
 WHERE s.source_table = 'public.many'::regclass AND m.segment = 'many'
   AND (r.source_key::int % 10) < CASE WHEN m.holdout THEN 1 ELSE 3 END;
SELECT r ->> 'verdict' AS verdict, (r -> 'treated' ->> 'conversion_rate')::numeric > (r -> 'holdout' ->> 'conversion_rate')::numeric AS treated_higher,
       (r -> 'uplift_ci95' ->> 0)::numeric > 0 AS interval_above_zero,
       ((r -> 'treated' ->> 'members')::int + (r -> 'holdout' ->> 'members')::int) AS members
  FROM cdp.segment_report('many') r;
-- a new holdout share: the members who change side leave on the old side and enter on the new
SELECT cdp.alter_segment('many', holdout_percent => 20) - 'segment' AS altered;
SELECT op, holdout, count(*) FROM cdp.segment_events WHERE segment = 'many' AND reason = 'holdout' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE holdout) AS held_out, count(*) AS members FROM cdp.segment_members WHERE segment = 'many';
SELECT cdp.drop_segment('many') > 0 AS dropped;

-- dropping a segment: every member exits (reason dropped)
SELECT cdp.define_segment('everyone', 'profile_id > 0') > 0 AS defined;
SELECT count(*) AS everyone_members FROM cdp.segment_members WHERE segment = 'everyone';
SELECT cdp.drop_segment('everyone') AS exits;
SELECT e.segment, e.op, e.reason, count(*) FROM cdp.segment_events e WHERE e.reason = 'dropped' GROUP BY 1, 2, 3;
SELECT count(*) AS everyone_members FROM cdp.segment_members WHERE segment = 'everyone';
SELECT cdp.drop_segment('everyone');
\echo :LAST_ERROR_SQLSTATE

-- the row a rule reads (cdp.profile_facts) follows changes made while no segment existed (the
-- first segment defined rebuilds it) and traits defined later (each gets a slot)
SELECT count(cdp.drop_segment(name)) >= 0 AS all_dropped FROM cdp.segments;
SELECT count(*) AS segments FROM cdp.segments;
INSERT INTO public.many_orders VALUES (5001, 7, 5000, clock_timestamp());
SELECT cdp.compute_traits() > 0 AS computed;
SELECT cdp.define_segment('rich', 'revenue >= 5000') > 0 AS defined;
SELECT r.source_key FROM cdp.segment_members m JOIN cdp.records r USING (profile_id) JOIN cdp.sources s USING (source_id)
 WHERE m.segment = 'rich' AND s.source_table = 'public.many'::regclass;
SELECT cdp.define_trait('big_ones', 'count(*) FILTER (WHERE amount >= 5000)');
SELECT slot IS NULL AS no_slot_before_values FROM cdp._trait_names() n LEFT JOIN cdp.trait_slots USING (trait) WHERE n.trait = 'big_ones';
SELECT cdp.compute_traits() > 0 AS computed;
SELECT cdp.define_segment('big ones', 'big_ones >= 1') > 0 AS defined;
SELECT r.source_key FROM cdp.segment_members m JOIN cdp.records r USING (profile_id) JOIN cdp.sources s USING (source_id)
 WHERE m.segment = 'big ones' AND s.source_table = 'public.many'::regclass;
SELECT slot > 0 AS slotted, is_text FROM cdp.trait_slots WHERE trait = 'big_ones';
SELECT count(*) = (SELECT count(*) FROM cdp.profiles) AS one_row_per_profile FROM cdp.profile_facts;

SET client_min_messages = warning;
DROP EXTENSION pg_cdp CASCADE;
DROP TABLE public.shoppers, public.purchases, public.many, public.many_orders;
RESET client_min_messages;
