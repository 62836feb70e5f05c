-- pg_cdp: segments and events (activation), over src/api/segments.rs.

-- ---------------------------------------------------------------------------------------------
-- Segments and events. A segment is a rule over one row per profile (cdp._segment_query checks
-- it and builds its member query); its members are kept in cdp.segment_members, and every change
-- of membership appends to cdp.segment_events (the outbox, the truth) in the same transaction,
-- announced by NOTIFY on channel cdp_segments with ids only. Only pg_cdp's own transactions write
-- events (refresh_segments, define/alter/drop_segment, the worker), each under one lock, so event
-- ids are handed out and committed in the same order: a consumer reading event_id > last_seen
-- never skips an event that commits later with a lower id.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE cdp.segments (
    segment_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (pg_catalog.length(name) BETWEEN 1 AND 100),
    rule            text NOT NULL,
    description     text,
    holdout_percent numeric NOT NULL DEFAULT 0 CHECK (holdout_percent >= 0 AND holdout_percent <= 100),
    reads_clock     boolean NOT NULL DEFAULT false,   -- the rule reads the clock (now(), days_since_last_order, tenure_days): kept current by due times
    due_through     timestamptz,                       -- cdp.segment_due holds when each profile's predicate next changes up to this time; then one whole evaluation
    failed_sqlstate text,                              -- the worker's last evaluation failed (e.g. a trait it names is gone): it is retried whole every cdp.segment_clock_interval
    defined_by      name NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    refreshed_at    timestamptz,
    requires_consent text CHECK (requires_consent IN ('email', 'sms', 'push'))   -- members must have granted it (cdp.consent)
);
COMMENT ON TABLE cdp.segments IS 'Rule-based segments (cdp.define_segment): a boolean rule over the columns of cdp.customer_360 and the traits, kept current by the worker.';

-- What now() means in a segment rule: the transaction time moved by cdp.clock_offset.
CREATE FUNCTION cdp._clock()
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.current_setting('cdp.clock_offset')::interval $$;

CREATE TABLE cdp.segment_members (
    segment    text NOT NULL REFERENCES cdp.segments (name) ON UPDATE CASCADE ON DELETE CASCADE,
    profile_id bigint NOT NULL,
    entered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    holdout    boolean NOT NULL,
    PRIMARY KEY (segment, profile_id)
);
CREATE INDEX segment_members_profile_idx ON cdp.segment_members (profile_id);

-- For a segment whose rule reads the clock: when its predicate next changes for a profile (to
-- within 30 s), up to the segment's due_through. The worker re-evaluates exactly the profiles
-- that are due, never all of them, until due_through.
CREATE TABLE cdp.segment_due (
    segment    text NOT NULL REFERENCES cdp.segments (name) ON UPDATE CASCADE ON DELETE CASCADE,
    profile_id bigint NOT NULL,
    due_at     timestamptz NOT NULL,
    PRIMARY KEY (segment, profile_id)
);
CREATE INDEX segment_due_at_idx ON cdp.segment_due (segment, due_at);
COMMENT ON TABLE cdp.segment_due IS 'When the rule of a segment that reads the clock next changes its mind for a profile (to within 30 s); swept by the worker.';
COMMENT ON TABLE cdp.segment_members IS 'Current members of each segment; holdout members are kept out of activation (their events say holdout: true).';

CREATE SEQUENCE cdp.segment_event_id_seq;
CREATE TABLE cdp.segment_events (
    event_id    bigint PRIMARY KEY,
    segment     text NOT NULL,
    profile_id  bigint NOT NULL,
    op          text NOT NULL CHECK (op IN ('enter', 'exit')),
    reason      text NOT NULL,      -- defined | refresh | changed | clock | altered | holdout | dropped | merged | gone | consent | forgotten
    merged_into bigint,             -- exit of a profile merged into another: the surviving id
    holdout     boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX segment_events_at_idx ON cdp.segment_events (at);
COMMENT ON TABLE cdp.segment_events IS 'Every segment enter and exit, in commit order of event_id: the outbox consumers replay with cdp.segment_events_since.';

-- Events up to pruned_through were deleted by retention: a consumer behind it has lost events.
-- One row once retention first deleted something (none: nothing deleted yet).
CREATE TABLE cdp.event_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    pruned_through bigint NOT NULL DEFAULT 0
);

-- Named consumers and the last event each acknowledged (cdp.ack_events), for cdp.consumer_lag.
CREATE TABLE cdp.consumers (
    consumer      text PRIMARY KEY CHECK (pg_catalog.length(consumer) BETWEEN 1 AND 100),
    last_event_id bigint NOT NULL,
    acked_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Profiles whose golden record, RFM, lifetime value or traits changed since the worker last
-- evaluated the segments for them (filled by statement triggers while segments exist).
CREATE TABLE cdp.segment_dirty (profile_id bigint NOT NULL);

SELECT pg_catalog.pg_extension_config_dump('cdp.segments', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segments_segment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_members', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_due', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_events', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.event_state', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.segment_dirty', '');

-- The row a segment rule is evaluated over, one per profile, kept as a table so that a rule is
-- one scan of one table with no join: the columns of cdp.customer_360 that rules name, and every
-- trait at its slot in one array (numeric traits in traits, text ones in text_traits). Brought up
-- to date by cdp._refresh_facts before any rule is evaluated, for the profiles marked in
-- cdp.facts_dirty. Its columns are those of the select list in crates/cdp-core/src/segments.rs, written once.
CREATE TABLE cdp.trait_slots (
    trait   text PRIMARY KEY,
    slot    integer NOT NULL UNIQUE CHECK (slot > 0),
    is_text boolean NOT NULL
);
COMMENT ON TABLE cdp.trait_slots IS 'The position of each trait in the trait arrays of cdp.profile_facts; a slot is never reused.';
CREATE TABLE cdp.facts_dirty (profile_id bigint NOT NULL);
COMMENT ON TABLE cdp.facts_dirty IS 'Profiles whose row in cdp.profile_facts is rebuilt before the next segment evaluation.';
DO $facts$
BEGIN
    EXECUTE cdp._facts_sql('create');
END
$facts$;
ALTER TABLE cdp.profile_facts ADD PRIMARY KEY (profile_id);
COMMENT ON TABLE cdp.profile_facts IS 'One row per profile as segment rules read it: golden record, RFM and lifetime value columns, and every trait at its slot (cdp.trait_slots). Kept current while segments exist.';
SELECT pg_catalog.pg_extension_config_dump('cdp.trait_slots', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.facts_dirty', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_facts', '');

CREATE FUNCTION cdp._mark_dirty()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- a profile created, changed or removed by a resolve run has its traits refreshed (its
    -- orders and events may now be another profile's) while order or event tables exist
    IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'profiles'
       AND (EXISTS (SELECT 1 FROM cdp.transaction_sources) OR EXISTS (SELECT 1 FROM cdp.event_sources)) THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
            INSERT INTO cdp.trait_dirty (profile_id) SELECT o.profile_id FROM dirty_old o;
        ELSE
            INSERT INTO cdp.trait_dirty (profile_id) SELECT n.profile_id FROM dirty_new n;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        RETURN NULL;
    END IF;
    -- the segments are evaluated again for these profiles, over their rebuilt facts
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        WITH x AS (SELECT DISTINCT o.profile_id FROM dirty_old o),
             f AS (INSERT INTO cdp.facts_dirty (profile_id) SELECT x.profile_id FROM x)
        INSERT INTO cdp.segment_dirty (profile_id) SELECT x.profile_id FROM x;
    ELSE
        WITH x AS (SELECT DISTINCT n.profile_id FROM dirty_new n),
             f AS (INSERT INTO cdp.facts_dirty (profile_id) SELECT x.profile_id FROM x)
        INSERT INTO cdp.segment_dirty (profile_id) SELECT x.profile_id FROM x;
    END IF;
    RETURN NULL;
END
$$;
DO $dirty$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['profiles', 'rfm', 'clv', 'profile_traits'] LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER segment_dirty_ins AFTER INSERT ON cdp.%I REFERENCING NEW TABLE AS dirty_new
                                   FOR EACH STATEMENT EXECUTE FUNCTION cdp._mark_dirty()', t);
        EXECUTE pg_catalog.format('CREATE TRIGGER segment_dirty_upd AFTER UPDATE ON cdp.%I REFERENCING NEW TABLE AS dirty_new
                                   FOR EACH STATEMENT EXECUTE FUNCTION cdp._mark_dirty()', t);
        EXECUTE pg_catalog.format('CREATE TRIGGER segment_dirty_del AFTER DELETE ON cdp.%I REFERENCING OLD TABLE AS dirty_old
                                   FOR EACH STATEMENT EXECUTE FUNCTION cdp._mark_dirty()', t);
    END LOOP;
END
$dirty$;

-- cdp.profile_facts brought up to date: the rows of the profiles marked in cdp.facts_dirty are
-- rebuilt (gone for a profile that no longer exists), or every row when whole or when more than
-- 100,000 are marked. A trait name without a slot gets the next one first. One refresh at a
-- time: an advisory lock, which neither readers nor autovacuum wait for or make wait (a table
-- lock that conflicts with itself also conflicts with autovacuum, and the worker's step would
-- time out behind it). Every segment evaluation calls it first, so rules never read facts older
-- than the tables they come from.
CREATE FUNCTION cdp._refresh_facts(whole boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    ids bigint[];
    n   bigint;
BEGIN
    IF NOT whole AND NOT EXISTS (SELECT 1 FROM cdp.facts_dirty) THEN
        RETURN 0;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock('cdp.profile_facts'::regclass::oid::bigint);
    INSERT INTO cdp.trait_slots (trait, slot, is_text)
    SELECT t.trait, (COALESCE((SELECT pg_catalog.max(s.slot) FROM cdp.trait_slots s), 0)
                     OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY t.trait))::integer, t.is_text
      FROM cdp._trait_names() t
     WHERE NOT EXISTS (SELECT 1 FROM cdp.trait_slots s WHERE s.trait OPERATOR(pg_catalog.=) t.trait);
    IF NOT whole THEN
        whole := (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp.facts_dirty LIMIT 100001) z) OPERATOR(pg_catalog.>) 100000;
    END IF;
    IF whole THEN
        DELETE FROM cdp.facts_dirty;
        TRUNCATE cdp.profile_facts;
        EXECUTE cdp._facts_sql('all');
        GET DIAGNOSTICS n = ROW_COUNT;
        ANALYZE cdp.profile_facts;
    ELSE
        WITH d AS (DELETE FROM cdp.facts_dirty RETURNING profile_id)
        SELECT pg_catalog.array_agg(DISTINCT d.profile_id) INTO ids FROM d;
        DELETE FROM cdp.profile_facts f WHERE f.profile_id OPERATOR(pg_catalog.=) ANY (ids);
        EXECUTE cdp._facts_sql('ids') USING ids;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    RETURN n;
END
$$;

-- Profile lifecycle on channel cdp_profiles: a merge (old id absorbed into new id) or a split
-- (part moved to a new id), as resolve runs write cdp.profile_lineage (pg_cdp's own
-- transactions, one run at a time: the lineage table is the durable record, in commit order of
-- lineage_id). Ids only; a run with 100 or more such changes is announced once, with its counts.
CREATE FUNCTION cdp._notify_lineage()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO n FROM lineage_new l WHERE l.kind OPERATOR(pg_catalog.<>) 'new';
    IF n OPERATOR(pg_catalog.=) 0 THEN
        RETURN NULL;
    ELSIF n OPERATOR(pg_catalog.>=) 100 THEN
        PERFORM pg_catalog.pg_notify('cdp_profiles', pg_catalog.json_build_object(
                    'run_id', pg_catalog.max(l.run_id),
                    'first_lineage_id', pg_catalog.min(l.lineage_id), 'last_lineage_id', pg_catalog.max(l.lineage_id),
                    'merged', pg_catalog.count(*) FILTER (WHERE l.kind OPERATOR(pg_catalog.=) 'merge'),
                    'split', pg_catalog.count(*) FILTER (WHERE l.kind OPERATOR(pg_catalog.=) 'split'))::text)
           FROM lineage_new l WHERE l.kind OPERATOR(pg_catalog.<>) 'new';
    ELSE
        PERFORM pg_catalog.pg_notify('cdp_profiles', pg_catalog.json_build_object(
                    'lineage_id', l.lineage_id, 'event', CASE l.kind WHEN 'merge' THEN 'merged' ELSE 'split' END,
                    'old_profile_id', l.old_profile_id, 'new_profile_id', l.new_profile_id)::text)
           FROM lineage_new l WHERE l.kind OPERATOR(pg_catalog.<>) 'new' ORDER BY l.lineage_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER lineage_notify AFTER INSERT ON cdp.profile_lineage REFERENCING NEW TABLE AS lineage_new
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._notify_lineage();

-- A deterministic share of each segment's members is held out: the hash of segment and profile
-- id, so a member keeps its side across refreshes, and a surviving profile keeps its own.
CREATE FUNCTION cdp._holdout(segment text, profile_id bigint, percent numeric)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT percent OPERATOR(pg_catalog.>) 0
         AND ((pg_catalog.abs(pg_catalog.hashtextextended(segment OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) profile_id::text, 0))
               OPERATOR(pg_catalog.%) 10000) OPERATOR(pg_catalog.<) (percent OPERATOR(pg_catalog.*) 100)) $$;

-- The one lock every event writer holds until it commits: SHARE ROW EXCLUSIVE on
-- cdp.segment_events conflicts with itself and not with readers, and only a role that may write
-- the table can take it (an advisory lock any role could take and hold).
CREATE FUNCTION cdp._lock_events(wait boolean DEFAULT true)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF wait THEN
        LOCK TABLE cdp.segment_events IN SHARE ROW EXCLUSIVE MODE;
        RETURN true;
    END IF;
    BEGIN
        LOCK TABLE cdp.segment_events IN SHARE ROW EXCLUSIVE MODE NOWAIT;
        RETURN true;
    EXCEPTION WHEN lock_not_available THEN
        RETURN false;
    END;
END
$$;

-- The rule a segment's members are found by: its own, and the consent they need (a profile that
-- refused profiling, or did not grant it under the opt_in policy, and for a segment that
-- requires a channel one that has not granted it, is left out). cdp._consent_blocked_sql
-- (crates/cdp-core/src/consent.rs) writes the condition, with the qualifier the caller needs.
CREATE FUNCTION cdp._consent_blocked(seg cdp.segments, qualifier text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT cdp._consent_blocked_sql(COALESCE((SELECT p.profiling_requires_grant FROM cdp.consent_policy p), false),
                                      seg.requires_consent, qualifier) $$;

CREATE FUNCTION cdp._member_rule(seg cdp.segments)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format('(%s) AND NOT %s', seg.rule, cdp._consent_blocked(seg, '')) $$;

-- Re-evaluate one segment (for every profile, or the profiles in ids) and write the difference:
-- memberships, one event per enter and exit, and the NOTIFY. An exit of a profile that no longer
-- exists says why (merged, with the surviving id, or gone), as does one that lacks the consent
-- the segment needs (consent). Returns enters and exits. The caller holds cdp._lock_events().
CREATE FUNCTION cdp._apply_segment(seg cdp.segments, ids bigint[], why text)
RETURNS TABLE (enters bigint, exits bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    first_id bigint := pg_catalog.nextval('cdp.segment_event_id_seq');
    n_in     bigint;
    n_out    bigint;
    scope    text := CASE WHEN ids IS NULL THEN 'all' ELSE 'ids' END;
    t_end    timestamptz;      -- a rule on time: the end of its due-time horizon ($6)
    answer   text := '';       -- a rule on time: its answer now and at t_end, in one scan
    now_in   text;             -- the profiles the rule holds for now
    rule     text := cdp._member_rule(seg);
BEGIN
    PERFORM cdp._refresh_facts();
    IF seg.reads_clock THEN
        t_end := cdp._due_horizon(seg, ids);
        answer := pg_catalog.format(
            'answer AS MATERIALIZED (%s),
             searched AS (INSERT INTO pg_temp.cdp_due_search (profile_id, lo, hi, held)
                          SELECT a.profile_id, cdp._clock(), $6, a.now_in FROM answer a
                           WHERE a.now_in OPERATOR(pg_catalog.<>) a.later_in),',
            cdp._segment_query_two_clocks(rule, scope, '$6'));
        now_in := 'SELECT a.profile_id FROM answer a WHERE a.now_in';
    ELSE
        now_in := cdp._segment_query(rule, scope);
    END IF;
    -- one pass over the rule's answer and the memberships: who is in and not a member (enters),
    -- who is a member and no longer in (exits)
    EXECUTE pg_catalog.format($q$
        WITH %s
        diff AS MATERIALIZED (
            SELECT COALESCE(n.profile_id, m.profile_id) AS profile_id, n.profile_id IS NULL AS leaving
              FROM (%s) n
              FULL JOIN (SELECT mm.profile_id FROM cdp.segment_members mm
                          WHERE mm.segment OPERATOR(pg_catalog.=) $2
                            AND ($1 IS NULL OR mm.profile_id OPERATOR(pg_catalog.=) ANY ($1))) m
                ON m.profile_id OPERATOR(pg_catalog.=) n.profile_id
             WHERE n.profile_id IS NULL OR m.profile_id IS NULL),
        gone AS (
            DELETE FROM cdp.segment_members m USING diff d
             WHERE d.leaving AND m.segment OPERATOR(pg_catalog.=) $2 AND m.profile_id OPERATOR(pg_catalog.=) d.profile_id
            RETURNING m.profile_id, m.holdout),
        came AS (
            INSERT INTO cdp.segment_members (segment, profile_id, holdout)
            SELECT $2, d.profile_id, cdp._holdout($2, d.profile_id, $3) FROM diff d WHERE NOT d.leaving
            RETURNING profile_id, holdout),
        changes AS (
            SELECT 'exit' AS op, g.profile_id, g.holdout FROM gone g
            UNION ALL SELECT 'enter', c.profile_id, c.holdout FROM came c),
        numbered AS (
            -- exits first, then enters, each by profile id: ids follow on from $5
            SELECT $5 OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY ch.op DESC, ch.profile_id) OPERATOR(pg_catalog.-) 1 AS event_id, ch.*,
                   (SELECT l.new_profile_id FROM cdp.profile_lineage l
                     WHERE ch.op OPERATOR(pg_catalog.=) 'exit' AND l.old_profile_id OPERATOR(pg_catalog.=) ch.profile_id
                       AND l.kind OPERATOR(pg_catalog.=) 'merge'
                     ORDER BY l.lineage_id DESC LIMIT 1) AS merged_into,
                   ch.op OPERATOR(pg_catalog.=) 'exit'
                   AND NOT EXISTS (SELECT 1 FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) ch.profile_id) AS vanished,
                   ch.op OPERATOR(pg_catalog.=) 'exit'
                   AND EXISTS (SELECT 1 FROM cdp.profile_facts f WHERE f.profile_id OPERATOR(pg_catalog.=) ch.profile_id AND %s) AS refused
              FROM changes ch)
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, merged_into, holdout)
        SELECT x.event_id, $2, x.profile_id, x.op,
               CASE WHEN x.vanished AND x.merged_into IS NOT NULL THEN 'merged' WHEN x.vanished THEN 'gone'
                    WHEN x.refused THEN 'consent' ELSE $4 END,
               CASE WHEN x.vanished THEN x.merged_into END, x.holdout
          FROM numbered x
        $q$, answer, now_in, cdp._consent_blocked(seg, 'f.'))
    USING ids, seg.name, seg.holdout_percent, why, first_id, t_end;
    SELECT pg_catalog.count(*) FILTER (WHERE e.op OPERATOR(pg_catalog.=) 'enter'),
           pg_catalog.count(*) FILTER (WHERE e.op OPERATOR(pg_catalog.=) 'exit')
      INTO n_in, n_out
      FROM cdp.segment_events e WHERE e.event_id OPERATOR(pg_catalog.>=) first_id;
    IF n_in OPERATOR(pg_catalog.+) n_out OPERATOR(pg_catalog.>) 0 THEN
        PERFORM pg_catalog.setval('cdp.segment_event_id_seq', first_id OPERATOR(pg_catalog.+) n_in OPERATOR(pg_catalog.+) n_out OPERATOR(pg_catalog.-) 1);
        PERFORM cdp._notify_events(seg.name, first_id, first_id OPERATOR(pg_catalog.+) n_in OPERATOR(pg_catalog.+) n_out OPERATOR(pg_catalog.-) 1);
    END IF;
    -- a rule that reads the clock: when will it next change its mind for these profiles
    IF seg.reads_clock THEN
        PERFORM cdp._segment_due(seg);
    ELSIF ids IS NULL THEN
        DELETE FROM cdp.segment_due d WHERE d.segment OPERATOR(pg_catalog.=) seg.name;
    END IF;
    RETURN QUERY SELECT n_in, n_out;
END
$$;

-- When the rule of a segment that reads the clock next changes its mind, per profile (those in
-- ids, or all). cdp._apply_segment evaluates such a rule now and at the end of the horizon in
-- one scan (cdp._segment_query_two_clocks); the profiles whose two answers differ go to
-- pg_temp.cdp_due_search, and cdp._segment_due finds the moment of change by bisection to within
-- 30 s (the member query in probe form: each profile at its own time) and stores it in
-- cdp.segment_due. A whole evaluation sets a new horizon, cdp.segment_due_horizon ahead; the
-- profiles of a batch keep the segment's. A profile whose predicate changes and changes back
-- within the horizon is seen at the next whole evaluation. Plain operators: the search_path is
-- pinned to pg_catalog.
--
-- The horizon of an evaluation (returned), with the due times it replaces deleted and the
-- search table empty.
CREATE FUNCTION cdp._due_horizon(seg cdp.segments, ids bigint[])
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t0    timestamptz := cdp._clock();
    t_end timestamptz := seg.due_through;
BEGIN
    IF ids IS NULL OR t_end IS NULL OR t_end <= t0 THEN
        t_end := t0 + pg_catalog.current_setting('cdp.segment_due_horizon')::interval;
        UPDATE cdp.segments x SET due_through = t_end WHERE x.segment_id = seg.segment_id;
        DELETE FROM cdp.segment_due d WHERE d.segment = seg.name;
    ELSE
        DELETE FROM cdp.segment_due d WHERE d.segment = seg.name AND d.profile_id = ANY (ids);
    END IF;
    IF pg_catalog.to_regclass('pg_temp.cdp_probe') IS NULL THEN
        CREATE TEMP TABLE cdp_probe (profile_id bigint PRIMARY KEY, at timestamptz NOT NULL) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE cdp_due_search (profile_id bigint PRIMARY KEY, lo timestamptz, hi timestamptz, held boolean) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE pg_temp.cdp_due_search;
    RETURN t_end;
END
$$;

-- The bisection over pg_temp.cdp_due_search (profile, the interval the change lies in, and
-- whether the rule holds at its start), then the due times stored. Returns their number.
CREATE FUNCTION cdp._segment_due(seg cdp.segments)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    probe  text := cdp._segment_query(cdp._member_rule(seg), 'probe');
    n      bigint;
BEGIN
    LOOP
        TRUNCATE pg_temp.cdp_probe;
        INSERT INTO pg_temp.cdp_probe (profile_id, at)
        SELECT s.profile_id, s.lo + (s.hi - s.lo) / 2 FROM pg_temp.cdp_due_search s WHERE s.hi - s.lo > interval '30 seconds';
        EXIT WHEN NOT FOUND;
        ANALYZE pg_temp.cdp_probe;      -- a few profiles: the planner probes their rows by index
        -- the predicate at the middle: still as it was at the start (the change comes later) or not
        EXECUTE pg_catalog.format(
            'UPDATE pg_temp.cdp_due_search s
                SET lo = CASE WHEN h.holds = s.held THEN h.at ELSE s.lo END,
                    hi = CASE WHEN h.holds = s.held THEN s.hi ELSE h.at END
               FROM (SELECT pr.profile_id, pr.at, z.profile_id IS NOT NULL AS holds
                       FROM pg_temp.cdp_probe pr LEFT JOIN (%s) z ON z.profile_id = pr.profile_id) h
              WHERE h.profile_id = s.profile_id', probe);
    END LOOP;
    INSERT INTO cdp.segment_due (segment, profile_id, due_at)
    SELECT seg.name, s.profile_id, s.hi FROM pg_temp.cdp_due_search s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- NOTIFY cdp_segments with ids only (never a name, e-mail or phone; well under the 8000-byte
-- payload limit): one notification per event, or one for the range when a change is large.
-- Delivered at commit, not at all after a rollback.
CREATE FUNCTION cdp._notify_events(segment text, first_id bigint, last_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF last_id OPERATOR(pg_catalog.-) first_id OPERATOR(pg_catalog.>=) 100 THEN
        PERFORM pg_catalog.pg_notify('cdp_segments', pg_catalog.json_build_object(
            'segment', segment, 'first_event_id', first_id, 'last_event_id', last_id,
            'events', last_id OPERATOR(pg_catalog.-) first_id OPERATOR(pg_catalog.+) 1)::text);
        RETURN;
    END IF;
    PERFORM pg_catalog.pg_notify('cdp_segments', pg_catalog.json_build_object(
                'event_id', e.event_id, 'segment', e.segment, 'profile_id', e.profile_id,
                'op', e.op, 'holdout', e.holdout)::text)
       FROM cdp.segment_events e
      WHERE e.event_id OPERATOR(pg_catalog.>=) first_id AND e.event_id OPERATOR(pg_catalog.<=) last_id
      ORDER BY e.event_id;
END
$$;

CREATE FUNCTION cdp._segment_named(segment text)
RETURNS cdp.segments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s cdp.segments;
BEGIN
    SELECT * INTO s FROM cdp.segments x WHERE x.name OPERATOR(pg_catalog.=) segment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segment "%" does not exist', segment USING ERRCODE = '42704',
              HINT = 'SELECT name FROM cdp.segments lists the segments';
    END IF;
    RETURN s;
END
$$;

-- Check a rule: the expression checker (42601, 42703 with the names, 42501), then the member
-- query planned without rows (42804 when the rule is not boolean, 42883 for an operator that
-- does not fit the column's type).
CREATE FUNCTION cdp._check_segment_rule(rule text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text;
    st text;
    msg text;
BEGIN
    IF rule IS NULL THEN
        RAISE EXCEPTION 'a segment needs a rule' USING ERRCODE = '22004';
    END IF;
    q := cdp._segment_query(rule, 'all');
    BEGIN
        EXECUTE q OPERATOR(pg_catalog.||) ' LIMIT 0';
    EXCEPTION WHEN datatype_mismatch THEN
        RAISE EXCEPTION 'segment rule "%" is not a boolean expression', rule USING ERRCODE = '42804',
              HINT = 'a rule says which profiles are members, e.g. revenue >= 500 AND p_alive < 0.5';
    WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        RAISE EXCEPTION 'segment rule "%" cannot be evaluated: %', rule, msg USING ERRCODE = st;
    END;
END
$$;

CREATE FUNCTION cdp.define_segment(name text, rule text, description text DEFAULT NULL, holdout_percent numeric DEFAULT 0,
                                   requires_consent text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s cdp.segments;
BEGIN
    IF name IS NULL OR pg_catalog.length(name) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'invalid segment name "%"', name USING ERRCODE = '22023', HINT = '1 to 100 characters';
    END IF;
    IF holdout_percent IS NULL OR holdout_percent OPERATOR(pg_catalog.<) 0 OR holdout_percent OPERATOR(pg_catalog.>) 100 THEN
        RAISE EXCEPTION 'holdout_percent must be between 0 and 100, not %', holdout_percent USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.segments x WHERE x.name OPERATOR(pg_catalog.=) name) THEN
        RAISE EXCEPTION 'segment "%" already exists', name USING ERRCODE = '42710',
              HINT = 'change it with cdp.alter_segment';
    END IF;
    PERFORM cdp._check_segment_rule(rule);
    PERFORM cdp._check_consent_purpose(requires_consent);
    PERFORM cdp._lock_events();
    -- the facts are kept current only while segments exist: the first one rebuilds them
    IF NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        PERFORM cdp._refresh_facts(true);
    END IF;
    INSERT INTO cdp.segments (name, rule, description, holdout_percent, requires_consent, reads_clock, defined_by, refreshed_at)
    VALUES (name, rule, description, holdout_percent, requires_consent, cdp._segment_reads_clock(rule), cdp._acting_role(), cdp._clock())
    RETURNING * INTO s;
    PERFORM cdp._audit('segment.define', name, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'rule_sha256', cdp._text_digest(rule), 'holdout_percent', holdout_percent, 'requires_consent', requires_consent)));
    -- filled at once: each initial member is one enter event (reason defined)
    PERFORM cdp._apply_segment(s, NULL, 'defined');
    RETURN s.segment_id;
END
$$;
COMMENT ON FUNCTION cdp.define_segment(text, text, text, numeric, text) IS
'Define a segment: a boolean rule over the columns of cdp.customer_360 and the traits; requires_consent (email, sms or push) keeps to the profiles that granted it. Filled at once (one enter event per member); kept current by the worker. Returns the segment id.';

CREATE FUNCTION cdp.alter_segment(name text, rule text DEFAULT NULL, description text DEFAULT NULL, holdout_percent numeric DEFAULT NULL,
                                  requires_consent text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s        cdp.segments := cdp._segment_named(name);
    r        record;
    first_id bigint;
    n        bigint;
BEGIN
    IF rule IS NOT NULL THEN
        PERFORM cdp._check_segment_rule(rule);
    END IF;
    IF holdout_percent IS NOT NULL AND (holdout_percent OPERATOR(pg_catalog.<) 0 OR holdout_percent OPERATOR(pg_catalog.>) 100) THEN
        RAISE EXCEPTION 'holdout_percent must be between 0 and 100, not %', holdout_percent USING ERRCODE = '22023';
    END IF;
    IF requires_consent IS DISTINCT FROM 'none' THEN
        PERFORM cdp._check_consent_purpose(requires_consent);
    END IF;
    PERFORM cdp._lock_events();
    UPDATE cdp.segments x
       SET rule = COALESCE(rule, x.rule), description = COALESCE(description, x.description),
           holdout_percent = COALESCE(holdout_percent, x.holdout_percent), updated_at = pg_catalog.now(),
           requires_consent = CASE WHEN requires_consent IS NULL THEN x.requires_consent
                                   WHEN requires_consent OPERATOR(pg_catalog.=) 'none' THEN NULL ELSE requires_consent END,
           reads_clock = cdp._segment_reads_clock(COALESCE(rule, x.rule)),
           refreshed_at = cdp._clock(), defined_by = cdp._acting_role()
     WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id
    RETURNING * INTO s;
    -- members stay on their side unless the share itself changed; a member who changes side
    -- leaves on the old one and enters on the new one (reason holdout), so consumers stop or
    -- start contacting exactly those
    IF holdout_percent IS NOT NULL THEN
        first_id := pg_catalog.nextval('cdp.segment_event_id_seq');
        WITH flip AS (
            UPDATE cdp.segment_members m SET holdout = NOT m.holdout
             WHERE m.segment OPERATOR(pg_catalog.=) s.name
               AND m.holdout OPERATOR(pg_catalog.<>) cdp._holdout(s.name, m.profile_id, s.holdout_percent)
            RETURNING m.profile_id, m.holdout AS now_held)
        INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, holdout)
        SELECT first_id OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY f.profile_id, e.op DESC) OPERATOR(pg_catalog.-) 1,
               s.name, f.profile_id, e.op, 'holdout', e.held
          FROM flip f, LATERAL (VALUES ('exit', NOT f.now_held), ('enter', f.now_held)) e(op, held);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n OPERATOR(pg_catalog.>) 0 THEN
            PERFORM pg_catalog.setval('cdp.segment_event_id_seq', first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
            PERFORM cdp._notify_events(s.name, first_id, first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
        END IF;
    END IF;
    PERFORM cdp._audit('segment.alter', s.name, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'rule_sha256', cdp._text_digest(rule), 'description_changed', description IS NOT NULL,
                'holdout_percent', holdout_percent, 'requires_consent', requires_consent)));
    SELECT * INTO r FROM cdp._apply_segment(s, NULL, 'altered');
    RETURN pg_catalog.jsonb_build_object('segment', s.name, 'enters', r.enters, 'exits', r.exits);
END
$$;

CREATE FUNCTION cdp.drop_segment(name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s        cdp.segments := cdp._segment_named(name);
    first_id bigint;
    n        bigint;
BEGIN
    PERFORM cdp._lock_events();
    -- every member exits (reason dropped), then the segment and its memberships go
    first_id := pg_catalog.nextval('cdp.segment_event_id_seq');
    INSERT INTO cdp.segment_events (event_id, segment, profile_id, op, reason, holdout)
    SELECT first_id OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY m.profile_id) OPERATOR(pg_catalog.-) 1,
           s.name, m.profile_id, 'exit', 'dropped', m.holdout
      FROM cdp.segment_members m WHERE m.segment OPERATOR(pg_catalog.=) s.name;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM pg_catalog.setval('cdp.segment_event_id_seq', first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
        PERFORM cdp._notify_events(s.name, first_id, first_id OPERATOR(pg_catalog.+) n OPERATOR(pg_catalog.-) 1);
    END IF;
    DELETE FROM cdp.segments x WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
    PERFORM cdp._audit('segment.drop', s.name, pg_catalog.jsonb_build_object('exits', n));
    RETURN n;
END
$$;

-- Full, set-based re-evaluation of one segment or all. Returns enters and exits per segment.
CREATE FUNCTION cdp.refresh_segments(segment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s       cdp.segments;
    r       record;
    started timestamptz := pg_catalog.clock_timestamp();
    result  jsonb := '{}';
BEGIN
    IF segment IS NOT NULL THEN
        PERFORM cdp._segment_named(segment);
    END IF;
    PERFORM cdp._lock_events();
    IF segment IS NULL THEN
        -- everything is evaluated now: what was marked before this point is covered
        DELETE FROM cdp.segment_dirty;
    END IF;
    FOR s IN SELECT * FROM cdp.segments x WHERE segment IS NULL OR x.name OPERATOR(pg_catalog.=) segment ORDER BY x.segment_id LOOP
        SELECT * INTO r FROM cdp._apply_segment(s, NULL, 'refresh');
        UPDATE cdp.segments x SET refreshed_at = cdp._clock() WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
        result := result OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(s.name, pg_catalog.jsonb_build_object('enters', r.enters, 'exits', r.exits));
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('segments', result,
           'seconds', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started)::numeric, 3));
END
$$;
COMMENT ON FUNCTION cdp.refresh_segments(text) IS
'Re-evaluate one segment or all, set-based, writing enter and exit events for the difference. Returns enters and exits per segment and the seconds taken.';

-- Whether segments need profiling consent granted (opt_in) or only not refused (opt_out, the
-- default). Every segment is evaluated again at once: who lacks it now exits (reason consent).
CREATE FUNCTION cdp.set_profiling_consent(mode text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF mode IS NULL OR mode NOT IN ('opt_in', 'opt_out') THEN
        RAISE EXCEPTION 'unknown profiling consent mode "%"', mode USING ERRCODE = '22023',
              HINT = 'opt_out: a profile that refused profiling is left out of segments (the default); opt_in: one that has not granted it is left out too';
    END IF;
    PERFORM cdp._lock_events();
    INSERT INTO cdp.consent_policy AS c (profiling_requires_grant) VALUES (mode OPERATOR(pg_catalog.=) 'opt_in')
    ON CONFLICT (one) DO UPDATE SET profiling_requires_grant = EXCLUDED.profiling_requires_grant;
    PERFORM cdp._audit('consent.profiling_policy', NULL, pg_catalog.jsonb_build_object('mode', mode));
    RETURN cdp.refresh_segments(NULL);
END
$$;
COMMENT ON FUNCTION cdp.set_profiling_consent(text) IS
'opt_out (default): segments leave out profiles that refused profiling; opt_in: also those that never granted it. Re-evaluates every segment at once (exits with reason consent).';

-- One segment in the worker's step, in a subtransaction: a segment that fails (a trait its rule
-- names is gone, say) records the SQLSTATE and is retried whole every
-- cdp.segment_clock_interval, and never stops the other segments. Success clears the mark; a
-- failure on a batch of changed profiles leaves it to that full retry.
CREATE FUNCTION cdp._worker_apply(s cdp.segments, ids bigint[], why text, OUT enters bigint, OUT exits bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st text;
BEGIN
    enters := 0;
    exits := 0;
    BEGIN
        SELECT a.enters, a.exits INTO enters, exits FROM cdp._apply_segment(s, ids, why) a;
        UPDATE cdp.segments x SET failed_sqlstate = NULL,
               refreshed_at = CASE WHEN ids IS NULL THEN cdp._clock() ELSE x.refreshed_at END
         WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        UPDATE cdp.segments x SET failed_sqlstate = st, refreshed_at = cdp._clock()
         WHERE x.segment_id OPERATOR(pg_catalog.=) s.segment_id;
        RAISE LOG 'pg_cdp worker: segment % failed with SQLSTATE %; retried whole every cdp.segment_clock_interval', s.segment_id, st;
    END;
END
$$;

-- The worker's step: re-evaluate every segment for the profiles marked since its last step
-- (their golden record, RFM, lifetime value or traits changed; a merged-away profile exits),
-- and every segment whose rule reads the clock for the profiles that are due (cdp.segment_due),
-- or whole once its due times run out; never waiting for another event writer. Many marks at
-- once (a full resolve, an RFM recomputation) make it a full refresh. Also applies
-- cdp.segment_event_retention.
CREATE FUNCTION cdp._worker_segments(max_profiles integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET lock_timeout = '200ms'
AS $$
DECLARE
    ids     bigint[];
    s       cdp.segments;
    r       record;
    n_in    bigint := 0;
    n_out   bigint := 0;
    keep    interval := pg_catalog.current_setting('cdp.segment_event_retention')::interval;
    pruned  bigint;
    due     integer[];
    ticking boolean;
    due_ids bigint[];
BEGIN
    PERFORM cdp._prune_audit_log();
    IF keep OPERATOR(pg_catalog.>) interval '0' THEN
        WITH d AS (DELETE FROM cdp.segment_events e
                    WHERE e.at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) keep)
                   RETURNING e.event_id)
        SELECT pg_catalog.max(d.event_id) INTO pruned FROM d;
        IF pruned IS NOT NULL THEN
            INSERT INTO cdp.event_state AS st (pruned_through) VALUES (pruned)
            ON CONFLICT (one) DO UPDATE SET pruned_through = GREATEST(st.pruned_through, EXCLUDED.pruned_through);
        END IF;
    END IF;
    -- failed segments: whole, every cdp.segment_clock_interval
    SELECT pg_catalog.array_agg(x.segment_id) INTO due FROM cdp.segments x
     WHERE x.failed_sqlstate IS NOT NULL AND (x.refreshed_at IS NULL OR x.refreshed_at OPERATOR(pg_catalog.<=)
           (cdp._clock() OPERATOR(pg_catalog.-) pg_catalog.current_setting('cdp.segment_clock_interval')::interval));
    -- rules that read the clock: the profiles due now, or whole when the due times run out
    ticking := EXISTS (SELECT 1 FROM cdp.segments x
                        WHERE x.reads_clock AND x.failed_sqlstate IS NULL
                          AND (x.due_through IS NULL OR x.due_through OPERATOR(pg_catalog.<=) cdp._clock()
                               OR EXISTS (SELECT 1 FROM cdp.segment_due sd WHERE sd.segment OPERATOR(pg_catalog.=) x.name
                                             AND sd.due_at OPERATOR(pg_catalog.<=) cdp._clock())));
    IF due IS NULL AND NOT ticking AND NOT EXISTS (SELECT 1 FROM cdp.segment_dirty) THEN
        RETURN '{"profiles": 0}'::jsonb;
    END IF;
    IF NOT cdp._lock_events(false) THEN
        RETURN '{"skipped": "another event writer"}'::jsonb;
    END IF;
    FOR s IN SELECT * FROM cdp.segments x WHERE x.segment_id OPERATOR(pg_catalog.=) ANY (due) ORDER BY x.segment_id LOOP
        SELECT * INTO r FROM cdp._worker_apply(s, NULL, 'clock');
        n_in := n_in OPERATOR(pg_catalog.+) r.enters;
        n_out := n_out OPERATOR(pg_catalog.+) r.exits;
    END LOOP;
    FOR s IN SELECT * FROM cdp.segments x WHERE ticking AND x.reads_clock AND x.failed_sqlstate IS NULL ORDER BY x.segment_id LOOP
        due_ids := NULL;
        IF s.due_through IS NOT NULL AND s.due_through OPERATOR(pg_catalog.>) cdp._clock() THEN
            SELECT pg_catalog.array_agg(sd.profile_id) INTO due_ids FROM cdp.segment_due sd
             WHERE sd.segment OPERATOR(pg_catalog.=) s.name AND sd.due_at OPERATOR(pg_catalog.<=) cdp._clock();
            CONTINUE WHEN due_ids IS NULL;
        END IF;
        SELECT * INTO r FROM cdp._worker_apply(s, due_ids, 'clock');
        n_in := n_in OPERATOR(pg_catalog.+) r.enters;
        n_out := n_out OPERATOR(pg_catalog.+) r.exits;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM cdp.segment_dirty) THEN
        RETURN pg_catalog.jsonb_build_object('profiles', 0, 'enters', n_in, 'exits', n_out, 'more', false);
    END IF;
    IF (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp.segment_dirty LIMIT 100001) z) OPERATOR(pg_catalog.>) 100000 THEN
        RETURN cdp.refresh_segments(NULL) OPERATOR(pg_catalog.||) '{"full": true}'::jsonb;
    END IF;
    WITH d AS (
        DELETE FROM cdp.segment_dirty x
         WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM cdp.segment_dirty y LIMIT max_profiles))
        RETURNING x.profile_id)
    SELECT pg_catalog.array_agg(DISTINCT d.profile_id) INTO ids FROM d;
    FOR s IN SELECT * FROM cdp.segments ORDER BY segment_id LOOP
        SELECT * INTO r FROM cdp._worker_apply(s, ids, 'changed');
        n_in := n_in OPERATOR(pg_catalog.+) r.enters;
        n_out := n_out OPERATOR(pg_catalog.+) r.exits;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('profiles', pg_catalog.cardinality(ids), 'enters', n_in, 'exits', n_out,
                                         'more', EXISTS (SELECT 1 FROM cdp.segment_dirty));
END
$$;

-- Did activating the segment work? Members who entered it, treated against held out: how many
-- converted (an order within the window after entering), conversion rate, revenue per member,
-- and the uplift in conversion with a 95% confidence interval (two-proportion normal
-- approximation). Below 100 members in either group the verdict says it is too early. Orders are
-- read with the caller's rights (SECURITY INVOKER), as cdp.transactions reads them.
CREATE FUNCTION cdp.segment_report(segment text, "window" interval DEFAULT '30 days')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s      cdp.segments := cdp._segment_named(segment);
    g      jsonb;
    t      record;
    h      record;
    diff   float8;
    se     float8;
    verdict text;
BEGIN
    IF "window" IS NULL OR "window" OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'window must be a positive interval, not %', "window" USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format($q$
        WITH entered AS (       -- each member's first entry (events, or the membership when pruned)
            SELECT x.profile_id, pg_catalog.min(x.at) AS at, pg_catalog.bool_or(x.holdout) AS holdout
              FROM (SELECT e.profile_id, e.at, e.holdout FROM cdp.segment_events e
                     WHERE e.segment OPERATOR(pg_catalog.=) $2 AND e.op OPERATOR(pg_catalog.=) 'enter'
                    UNION ALL
                    SELECT m.profile_id, m.entered_at, m.holdout FROM cdp.segment_members m
                     WHERE m.segment OPERATOR(pg_catalog.=) $2) x
             GROUP BY x.profile_id),
        outcome AS (
            SELECT en.holdout, en.profile_id,
                   pg_catalog.count(o.profile_id) OPERATOR(pg_catalog.>) 0 AS converted,
                   COALESCE(pg_catalog.sum(o.amount), 0) AS revenue
              FROM entered en
              LEFT JOIN (%s) o ON o.profile_id OPERATOR(pg_catalog.=) en.profile_id
                              AND o.occurred_at OPERATOR(pg_catalog.>) en.at
                              AND o.occurred_at OPERATOR(pg_catalog.<=) (en.at OPERATOR(pg_catalog.+) $3)
             GROUP BY en.holdout, en.profile_id)
        SELECT pg_catalog.jsonb_object_agg(CASE WHEN z.holdout THEN 'holdout' ELSE 'treated' END, pg_catalog.to_jsonb(z) OPERATOR(pg_catalog.-) 'holdout')
          FROM (SELECT b.holdout, pg_catalog.count(*) AS members,
                       pg_catalog.count(*) FILTER (WHERE b.converted) AS converters,
                       pg_catalog.round(pg_catalog.avg(b.converted::int), 4) AS conversion_rate,
                       pg_catalog.round(pg_catalog.avg(b.revenue), 2) AS revenue_per_member
                  FROM outcome b GROUP BY b.holdout) z
    $q$, cdp._transactions_sql(true)) INTO g USING pg_catalog.now(), s.name, "window";   -- $1: the as-of time of cdp._transactions_sql
    g := COALESCE(g, '{}');
    SELECT COALESCE((g #>> '{treated,members}')::bigint, 0) AS n, COALESCE((g #>> '{treated,conversion_rate}')::float8, 0) AS p INTO t;
    SELECT COALESCE((g #>> '{holdout,members}')::bigint, 0) AS n, COALESCE((g #>> '{holdout,conversion_rate}')::float8, 0) AS p INTO h;
    IF t.n OPERATOR(pg_catalog.<) 100 OR h.n OPERATOR(pg_catalog.<) 100 THEN
        verdict := 'not enough members yet (at least 100 treated and 100 held out)';
    ELSE
        -- plain operators (the search_path is pinned to pg_catalog): OPERATOR() would give
        -- every one of them the same precedence
        diff := t.p - h.p;
        se := pg_catalog.sqrt(t.p * (1 - t.p) / t.n + h.p * (1 - h.p) / h.n);
        verdict := CASE WHEN diff - 1.96 * se > 0 THEN 'treated members convert more (95% confidence)'
                        WHEN diff + 1.96 * se < 0 THEN 'treated members convert less (95% confidence)'
                        ELSE 'no difference shown yet at 95% confidence' END;
    END IF;
    RETURN g OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
        'segment', s.name, 'window', "window"::text, 'holdout_percent', s.holdout_percent,
        'uplift', CASE WHEN diff IS NOT NULL THEN pg_catalog.round(diff::numeric, 4) END,
        'uplift_ci95', CASE WHEN diff IS NOT NULL THEN pg_catalog.jsonb_build_array(
                pg_catalog.round((diff - 1.96 * se)::numeric, 4), pg_catalog.round((diff + 1.96 * se)::numeric, 4)) END,
        'verdict', verdict);
END
$$;
COMMENT ON FUNCTION cdp.segment_report(text, interval) IS
'Treated against held-out members of a segment: members, converters (an order within the window after entering), conversion rate, revenue per member, the uplift with its 95% confidence interval, and a verdict.';

-- Catch-up for a consumer that was away: the events after the last one it saw, in order. A
-- consumer behind what retention deleted gets 55000, never a silent gap.
CREATE FUNCTION cdp.segment_events_since(after_event_id bigint, max_events integer DEFAULT 1000)
RETURNS SETOF cdp.segment_events
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF after_event_id IS NULL OR max_events IS NULL OR max_events OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'after_event_id must be given and max_events at least 1' USING ERRCODE = '22023';
    END IF;
    IF after_event_id OPERATOR(pg_catalog.<) COALESCE((SELECT st.pruned_through FROM cdp.event_state st), 0) THEN
        RAISE EXCEPTION 'events after % were deleted by retention (up to event %)', after_event_id,
              (SELECT st.pruned_through FROM cdp.event_state st) USING ERRCODE = '55000',
              HINT = 're-read the segments from cdp.segment_members, then continue from SELECT max(event_id) FROM cdp.segment_events; cdp.segment_event_retention sets how long events are kept';
    END IF;
    RETURN QUERY SELECT e.* FROM cdp.segment_events e
                  WHERE e.event_id OPERATOR(pg_catalog.>) after_event_id
                  ORDER BY e.event_id LIMIT max_events;
END
$$;
COMMENT ON FUNCTION cdp.segment_events_since(bigint, integer) IS
'The segment events after after_event_id, in order (at most max_events): a consumer that keeps its last event id catches up exactly once. 55000 when retention already deleted events it has not seen.';

CREATE FUNCTION cdp.ack_events(consumer text, event_id bigint)
RETURNS void
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO cdp.consumers AS c (consumer, last_event_id) VALUES (consumer, event_id)
    ON CONFLICT ON CONSTRAINT consumers_pkey DO UPDATE SET last_event_id = GREATEST(c.last_event_id, EXCLUDED.last_event_id), acked_at = pg_catalog.now()
$$;
COMMENT ON FUNCTION cdp.ack_events(text, bigint) IS
'Store a named consumer''s position (the last event it processed); cdp.consumer_lag shows how far behind each one is.';

CREATE VIEW cdp.consumer_lag AS
SELECT c.consumer, c.last_event_id, c.acked_at,
       (SELECT pg_catalog.count(*) FROM cdp.segment_events e WHERE e.event_id OPERATOR(pg_catalog.>) c.last_event_id) AS events_behind,
       c.last_event_id OPERATOR(pg_catalog.<) COALESCE((SELECT st.pruned_through FROM cdp.event_state st), 0) AS lost_events
  FROM cdp.consumers c;
COMMENT ON VIEW cdp.consumer_lag IS 'Each named consumer''s position, the events it has not acknowledged, and whether retention deleted some it never saw.';

-- Descriptions (\d+ shows them; the reference test requires one for every table and function).
COMMENT ON FUNCTION cdp.alter_segment(text, text, text, numeric, text) IS 'Change a segment''s rule, description, holdout share or required consent (''none'' removes it); the difference is written as exit and enter events at once. Returns the enters and exits.';
COMMENT ON FUNCTION cdp.drop_segment(text) IS 'Drop a segment: every member exits (reason dropped). Returns the number of exits.';
COMMENT ON TABLE cdp.consumers IS 'Named consumers and the last segment event each acknowledged (cdp.ack_events), for cdp.consumer_lag.';
COMMENT ON TABLE cdp.event_state IS 'Up to which event id retention (cdp.segment_event_retention) has deleted events; no row while nothing was deleted.';
COMMENT ON TABLE cdp.segment_dirty IS 'Profiles whose segments the worker evaluates next (their golden record, RFM, lifetime value or traits changed).';
