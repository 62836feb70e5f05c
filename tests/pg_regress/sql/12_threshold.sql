-- The match threshold follows the size of the data: with a model fitted on 2,000 records or
-- more, a pair is a match when its posterior probability reaches cdp.match_probability, with
-- the prior odds of a random pair estimated from the data; cdp.match_threshold decides when set.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cdp CASCADE;
DROP TABLE IF EXISTS public.members;
CREATE EXTENSION pg_cdp;
-- 1,500 people, 1,000 of them twice (an e-mail typo and a phone in another format)
CREATE TABLE public.members (id int PRIMARY KEY, mail text, name text, gsm text, born date);
INSERT INTO public.members
SELECT g, 'member' || g || '@mail-three.com', 'Name' || chr(65 + g % 26) || g || ' Surname' || chr(66 + g % 23) || (g * 7 % 1000),
       '0532 ' || lpad((1000000 + g * 37)::text, 7, '0'), date '1950-01-01' + (g * 13 % 15000)
  FROM generate_series(1, 1500) g;
INSERT INTO public.members
SELECT 10000 + g, 'member' || g || '@mail-three.con', 'Name' || chr(65 + g % 26) || g || ' Surname' || chr(66 + g % 23) || (g * 7 % 1000),
       '+90 532 ' || lpad((1000000 + g * 37)::text, 7, '0'), date '1950-01-01' + (g * 13 % 15000)
  FROM generate_series(1, 1000) g;
SELECT cdp.add_source('public.members', 'id', '{"email":"mail","full_name":"name","phone":"gsm","birth_date":"born"}') > 0 AS registered;
SELECT cdp.sync_source('public.members');
CREATE TEMP TABLE runs (label text, summary jsonb);
INSERT INTO runs SELECT 'default', cdp.resolve();
RESET client_min_messages;

-- the prior is estimated (1,000 true pairs among 2,500 records: log2-odds about -11.6) and the
-- threshold is log2(0.9 / 0.1) minus it
SELECT summary->>'threshold_from' AS threshold_from,
       round((summary->>'prior_log2_odds')::numeric, 1) AS prior_log2_odds,
       round((summary->>'threshold')::numeric, 2) AS threshold,
       abs((summary->>'threshold')::numeric - (log(2, 9) - (summary->>'prior_log2_odds')::numeric)) < 0.001 AS is_posterior_09,
       summary->>'profiles' AS profiles
  FROM runs WHERE label = 'default';
-- stored with the model, for the incremental runs and the steward's queue
SELECT round((params->>'prior_log2_odds')::numeric, 1) AS stored_prior FROM cdp.model ORDER BY model_id DESC LIMIT 1;
SELECT round(cdp._effective_threshold()::numeric, 2) AS in_force;

-- a surer posterior asks for more evidence: log2(99) - log2(9) = 3.46 bits more
SET cdp.match_probability = 0.99;
SELECT round(cdp._effective_threshold()::numeric, 2) AS in_force_at_099;
RESET cdp.match_probability;

-- cdp.match_threshold, once set, decides as it always did
SET client_min_messages = warning;
SET cdp.match_threshold = 20;
INSERT INTO runs SELECT 'fixed', cdp.resolve();
RESET cdp.match_threshold;
RESET client_min_messages;
SELECT summary->>'threshold_from' AS threshold_from, summary->>'threshold' AS threshold FROM runs WHERE label = 'fixed';

-- out of range
SET cdp.match_probability = 1;
SET cdp.match_probability = 0.3;
DROP TABLE public.members;
