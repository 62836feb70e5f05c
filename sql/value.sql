-- pg_cdp: customer value: order and behaviour event tables, their capture, RFM, lifetime value,
-- traits and cdp.customer_360, over src/api/value.rs and src/api/activity.rs.

-- Order tables attributed to profiles through a customer source's rows.
CREATE TABLE cdp.transaction_sources (
    tsource_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table        regclass NOT NULL UNIQUE,
    customer_source_id  integer NOT NULL,
    customer_key_column name NOT NULL,
    amount_column       name NOT NULL,
    occurred_at_column  name NOT NULL,
    currency_column     name,
    channel             text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by       regrole NOT NULL DEFAULT CURRENT_USER::regrole
);
SELECT pg_catalog.pg_extension_config_dump('cdp.transaction_sources', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.transaction_sources_tsource_id_seq', '');

-- Behaviour event tables (page views, add-to-cart, app opens) attributed to profiles through a
-- customer source's rows, as the order tables are.
CREATE TABLE cdp.event_sources (
    esource_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table        regclass NOT NULL UNIQUE,
    customer_source_id  integer NOT NULL,
    customer_key_column name NOT NULL,
    event_type_column   name NOT NULL,
    occurred_at_column  name NOT NULL,
    channel             text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by       regrole NOT NULL DEFAULT CURRENT_USER::regrole
);
SELECT pg_catalog.pg_extension_config_dump('cdp.event_sources', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.event_sources_esource_id_seq', '');

-- Customer keys whose orders or behaviour events changed (capture triggers on the order and
-- event tables); the worker refreshes the traits of their profiles. source_key NULL: the whole
-- table changed (TRUNCATE).
CREATE TABLE cdp.activity_queue (
    customer_source_id integer NOT NULL,
    source_key         text,
    queued_at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON cdp.activity_queue FROM PUBLIC;
GRANT INSERT ON cdp.activity_queue TO cdp_capture;
CREATE TRIGGER wake_worker AFTER INSERT ON cdp.activity_queue FOR EACH STATEMENT EXECUTE FUNCTION cdp._wake_worker();
SELECT pg_catalog.pg_extension_config_dump('cdp.activity_queue', '');

-- Profiles whose traits the worker refreshes next: those of queued activity, and every profile
-- a resolve run created, changed or removed (a merge moves orders to the surviving id).
CREATE TABLE cdp.trait_dirty (profile_id bigint NOT NULL);
SELECT pg_catalog.pg_extension_config_dump('cdp.trait_dirty', '');

-- Conversion of order amounts to one reporting currency: amount × rate. Empty: amounts are
-- used as they are, and orders in more than one currency are refused.
CREATE TABLE cdp.currency_rates (
    currency   text PRIMARY KEY CHECK (currency OPERATOR(pg_catalog.<>) ''),
    rate       numeric NOT NULL CHECK (rate OPERATOR(pg_catalog.>) 0),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('cdp.currency_rates', '');

-- A replacement R×F segment map (empty: the standard map; see cdp.rfm_segments).
CREATE TABLE cdp.rfm_segment_map (
    segment text PRIMARY KEY,
    r_min smallint NOT NULL CHECK (r_min BETWEEN 1 AND 5),
    r_max smallint NOT NULL CHECK (r_max BETWEEN 1 AND 5),
    f_min smallint NOT NULL CHECK (f_min BETWEEN 1 AND 5),
    f_max smallint NOT NULL CHECK (f_max BETWEEN 1 AND 5)
);
SELECT pg_catalog.pg_extension_config_dump('cdp.rfm_segment_map', '');

-- RFM per profile, written by cdp.compute_rfm.
CREATE TABLE cdp.rfm (
    profile_id     bigint PRIMARY KEY,
    recency_days   integer NOT NULL,
    frequency      integer NOT NULL,
    monetary_total numeric NOT NULL,
    monetary_avg   numeric,
    r_score        smallint NOT NULL,
    f_score        smallint NOT NULL,
    m_score        smallint NOT NULL,
    rfm_cell       text NOT NULL,
    segment        text,
    as_of          timestamptz NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Lifetime-value fits (BG/NBD + Gamma-Gamma) and the predictions of the latest one.
CREATE TABLE cdp.clv_model (
    model_id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fitted_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    customers       bigint NOT NULL,
    converged       boolean NOT NULL,
    horizon_days    double precision NOT NULL,
    annual_discount double precision NOT NULL,
    params          jsonb NOT NULL          -- {"bg_nbd": {r, alpha, a, b, ...}, "gamma_gamma": {p, q, v, ...}}
);
CREATE TABLE cdp.clv (
    profile_id         bigint PRIMARY KEY,
    orders             integer NOT NULL,
    historical_value   numeric NOT NULL,
    p_alive            double precision,
    expected_purchases double precision,
    expected_spend     double precision,
    predicted_clv      double precision,
    as_of              timestamptz NOT NULL,
    computed_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Profile traits in long form: built-in ones from the orders, custom ones (cdp.define_trait) and
-- cluster labels (cdp.cluster_profiles). Numeric traits in value, text traits in text_value.
CREATE TABLE cdp.profile_traits (
    profile_id  bigint NOT NULL,
    trait       text NOT NULL,
    value       double precision,
    text_value  text,
    computed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (profile_id, trait)
);
CREATE INDEX profile_traits_trait_idx ON cdp.profile_traits (trait);

-- Custom traits: an aggregate SQL expression over a profile's orders (amount, occurred_at,
-- currency, tsource_id, channel) or over its behaviour events (event_type, occurred_at, channel,
-- esource_id).
CREATE TABLE cdp.trait_definitions (
    trait      text PRIMARY KEY CHECK (trait ~ '^[a-z_][a-z0-9_]*$'),
    expression text NOT NULL,            -- as written; runs only in the checked form (cdp._check_trait_expression)
    over       text NOT NULL DEFAULT 'orders' CHECK (over IN ('orders', 'events')),
    defined_by name NOT NULL DEFAULT SESSION_USER,   -- the role acting (cdp._acting_role())
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('cdp.trait_definitions', '');

SELECT pg_catalog.pg_extension_config_dump('cdp.rfm', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.clv', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.clv_model', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.clv_model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_traits', '');

-- ---------------------------------------------------------------------------------------------
-- Customer value: transactions and RFM
-- ---------------------------------------------------------------------------------------------
-- cdp._check_activity_table (src/api/sources.rs) makes the checks the two registering functions
-- share, as cdp.add_source makes its own: both run as pg_cdp's owner, so the acting role's rights
-- are checked.

-- The type of a column, for the key match of an activity table's read.
CREATE FUNCTION cdp._column_type(source_table regclass, col name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) source_table::oid AND a.attname OPERATOR(pg_catalog.=) col $$;

CREATE FUNCTION cdp.add_transaction_source(
    source_table        regclass,
    customer_source     regclass,
    customer_key_column name,
    amount_column       name,
    occurred_at_column  name,
    channel             text DEFAULT NULL,
    currency_column     name DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    csid   integer := cdp._check_activity_table(source_table, customer_source, customer_key_column,
                                                amount_column, occurred_at_column, currency_column, NULL);
    id     integer;
BEGIN
    INSERT INTO cdp.transaction_sources (source_table, customer_source_id, customer_key_column, amount_column,
                                         occurred_at_column, currency_column, channel, registered_by)
    VALUES (source_table, csid, customer_key_column, amount_column, occurred_at_column, currency_column, channel,
            cdp._acting_role()::regrole)
    RETURNING tsource_id INTO id;
    PERFORM cdp._activity_triggers(source_table, csid, customer_key_column);
    PERFORM cdp._audit('transaction_source.add', source_table::text, pg_catalog.jsonb_build_object(
                'customer_source', customer_source::text, 'customer_key_column', customer_key_column, 'amount_column', amount_column,
                'occurred_at_column', occurred_at_column, 'currency_column', currency_column, 'channel', channel));
    RETURN id;
END
$$;
COMMENT ON FUNCTION cdp.add_transaction_source(regclass, regclass, name, name, name, text, name) IS
'Register an order table: each row is attributed to the profile of the customer source row whose key is in customer_key_column. A table is captured: the worker keeps its customers'' traits current.';

-- Unregister an order table (kind orders) or a behaviour event table (kind events).
CREATE FUNCTION cdp._drop_activity_source(source_table regclass, kind text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
BEGIN
    IF kind OPERATOR(pg_catalog.=) 'orders' THEN
        DELETE FROM cdp.transaction_sources t WHERE t.source_table OPERATOR(pg_catalog.=) source_table;
    ELSE
        DELETE FROM cdp.event_sources e WHERE e.source_table OPERATOR(pg_catalog.=) source_table;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION '% is not a registered % source', source_table, CASE kind WHEN 'orders' THEN 'transaction' ELSE 'event' END
              USING ERRCODE = '42704',
              HINT = pg_catalog.format('SELECT source_table FROM cdp.%s lists them', CASE kind WHEN 'orders' THEN 'transaction_sources' ELSE 'event_sources' END);
    END IF;
    RETURN true;
END
$$;

CREATE FUNCTION cdp.drop_transaction_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('transaction_source.drop', source_table::text);
    SELECT cdp._drop_activity_source(source_table, 'orders')
$$;
COMMENT ON FUNCTION cdp.drop_transaction_source(regclass) IS
'Unregister an order table (dropping the table unregisters it too). Its capture triggers are removed; the table is untouched.';

CREATE FUNCTION cdp.add_event_source(
    source_table        regclass,
    customer_source     regclass,
    customer_key_column name,
    event_type_column   name,
    occurred_at_column  name,
    channel             text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    csid   integer := cdp._check_activity_table(source_table, customer_source, customer_key_column,
                                                NULL, occurred_at_column, NULL, event_type_column);
    id     integer;
BEGIN
    INSERT INTO cdp.event_sources (source_table, customer_source_id, customer_key_column, event_type_column,
                                   occurred_at_column, channel, registered_by)
    VALUES (source_table, csid, customer_key_column, event_type_column, occurred_at_column, channel, cdp._acting_role()::regrole)
    RETURNING esource_id INTO id;
    PERFORM cdp._activity_triggers(source_table, csid, customer_key_column);
    PERFORM cdp._audit('event_source.add', source_table::text, pg_catalog.jsonb_build_object(
                'customer_source', customer_source::text, 'customer_key_column', customer_key_column,
                'event_type_column', event_type_column, 'occurred_at_column', occurred_at_column, 'channel', channel));
    -- the customers who already have events get their event traits at the worker's next step
    INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
    RETURN id;
END
$$;
COMMENT ON FUNCTION cdp.add_event_source(regclass, regclass, name, name, name, text) IS
'Register a table of behaviour events (page views, add-to-cart, app opens): each row belongs to the profile of the customer source row whose key is in customer_key_column. Event traits (cdp.define_trait(..., over => ''events'')) aggregate them; a table is captured, so the worker keeps those traits current.';

CREATE FUNCTION cdp.drop_event_source(source_table regclass)
RETURNS boolean
LANGUAGE sql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdp._audit('event_source.drop', source_table::text);
    SELECT cdp._drop_activity_source(source_table, 'events')
$$;
COMMENT ON FUNCTION cdp.drop_event_source(regclass) IS
'Unregister a behaviour event table (dropping the table unregisters it too). Its capture triggers are removed; the table is untouched.';

-- Capture on order and event tables, built like cdp._capture_changes (owned by cdp_capture,
-- whose only other right is appending to cdp.activity_queue; never fails the application's
-- write): it queues the customer keys of the changed rows, never their contents. A TRUNCATE, a
-- key column gone or a failure queues the whole customer source instead.
CREATE FUNCTION cdp._capture_activity()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET DateStyle = 'ISO, YMD'
SET TimeZone = 'UTC'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    csid   integer := TG_ARGV[0]::integer;
    keynum smallint := TG_ARGV[1]::smallint;
    keycol name;
BEGIN
    SELECT a.attname INTO keycol FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.=) keynum AND NOT a.attisdropped;
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' OR keycol IS NULL THEN
        INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
        RETURN NULL;
    END IF;
    BEGIN
        -- (many orders or events of one customer in one statement: each customer once)
        EXECUTE pg_catalog.format('INSERT INTO cdp.activity_queue (customer_source_id, source_key) SELECT $1, u.k FROM (%s) u(k)',
                                  cdp._changed_keys_sql(TG_OP, keycol, true)) USING csid;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (csid, NULL);
        RAISE WARNING 'pg_cdp: could not queue the customers of the changed rows of % (SQLSTATE %); all their traits are refreshed',
              TG_RELID::regclass, SQLSTATE;
    END;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION cdp._capture_activity() FROM PUBLIC;
ALTER FUNCTION cdp._capture_activity() OWNER TO cdp_capture;

-- The capture triggers of an order or event table (a view has none: it is read whole by
-- cdp.compute_traits). Statement triggers with transition tables, ENABLE ALWAYS (logical
-- replication's writes are captured too); on a partitioned table they see the rows written
-- through it. make => false removes them.
CREATE FUNCTION cdp._activity_triggers(source_table regclass, csid integer, keycol name, make boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keynum smallint;
    op     text;
BEGIN
    IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) source_table::oid) NOT IN ('r', 'p') THEN
        RETURN;
    END IF;
    FOR op IN SELECT g.tgname FROM pg_catalog.pg_trigger g
               WHERE g.tgrelid OPERATOR(pg_catalog.=) source_table::oid AND g.tgname OPERATOR(pg_catalog.~) '^cdp_activity_' LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', op, source_table);
    END LOOP;
    IF NOT make THEN
        RETURN;
    END IF;
    SELECT a.attnum INTO keynum FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) source_table::oid AND a.attname OPERATOR(pg_catalog.=) keycol AND NOT a.attisdropped;
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS cdp_new
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS cdp_old NEW TABLE AS cdp_new
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS cdp_old
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    EXECUTE pg_catalog.format('CREATE TRIGGER cdp_activity_truncate AFTER TRUNCATE ON %s
                               FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_activity(%L, %L)', source_table, csid, keynum);
    FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', source_table, 'cdp_activity_' OPERATOR(pg_catalog.||) op);
    END LOOP;
END
$$;

-- An order or event table unregistered (by its drop function, its customer source going, or
-- the table dropped) loses its capture triggers, and its customers' traits are refreshed.
CREATE FUNCTION cdp._activity_source_deleted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) OLD.source_table::oid) THEN
        PERFORM cdp._activity_triggers(OLD.source_table, OLD.customer_source_id, OLD.customer_key_column, false);
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.sources s WHERE s.source_id OPERATOR(pg_catalog.=) OLD.customer_source_id) THEN
        INSERT INTO cdp.activity_queue (customer_source_id, source_key) VALUES (OLD.customer_source_id, NULL);
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER activity_source_deleted AFTER DELETE ON cdp.transaction_sources
    FOR EACH ROW EXECUTE FUNCTION cdp._activity_source_deleted();
CREATE TRIGGER activity_source_deleted AFTER DELETE ON cdp.event_sources
    FOR EACH ROW EXECUTE FUNCTION cdp._activity_source_deleted();

-- The SQL text of every transaction row with its profile, one SELECT per transaction source
-- joined by UNION ALL; $1 is the as-of time. With usable_only the rows that cannot be used are
-- filtered out by plain WHERE and an inner join, so the planner can hash-join and aggregate the
-- orders in one pass (no set-returning function in between); otherwise issue says why a row is
-- kept aside. The one definition behind cdp.transactions, compute_rfm, clv_summary and
-- compute_traits. With staged, the rows are read from the stage the worker filled as the order
-- tables' owners (cdp._stage_activity) instead of from the tables.
CREATE FUNCTION cdp._transactions_sql(usable_only boolean, staged boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t       cdp.transaction_sources;
    parts   text[] := '{}';
    convert boolean := EXISTS (SELECT 1 FROM cdp.currency_rates);
    cur     text;
    joins   text := CASE WHEN usable_only THEN 'JOIN' ELSE 'LEFT JOIN' END;
    rel     text;
BEGIN
    FOR t IN SELECT * FROM cdp.transaction_sources ORDER BY tsource_id LOOP
        rel := t.source_table::text;
        IF staged THEN
            -- the stage's columns under the registered names
            rel := pg_catalog.format('(SELECT s.source_key AS %I, s.amount AS %I, s.occurred_at AS %I, s.currency AS %I
                                         FROM pg_temp.cdp_stage_orders s WHERE s.tsource_id OPERATOR(pg_catalog.=) %s)',
                                     t.customer_key_column, t.amount_column, t.occurred_at_column,
                                     COALESCE(t.currency_column, 'currency'), t.tsource_id);
        END IF;
        cur := CASE WHEN t.currency_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('x.%I::text', t.currency_column) END;
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
            'SELECT %1$s::integer AS tsource_id, r.profile_id, %10$s AS amount,
                    x.%4$I::timestamptz AS occurred_at, %5$s AS currency, %8$s AS issue
               FROM %2$s x %12$s cdp.records r ON r.source_id OPERATOR(pg_catalog.=) %6$s
                                      AND r.source_key OPERATOR(pg_catalog.=) x.%7$I::text %11$s %9$s',
            t.tsource_id, rel, t.amount_column, t.occurred_at_column, cur,
            t.customer_source_id, t.customer_key_column,
            CASE WHEN usable_only THEN 'NULL::text' ELSE pg_catalog.format(
                'CASE WHEN x.%1$I IS NULL THEN ''null_amount''
                      WHEN x.%2$I IS NULL THEN ''null_timestamp''
                      WHEN x.%2$I::timestamptz OPERATOR(pg_catalog.>) $1 THEN ''future_timestamp''
                      WHEN r.record_id IS NULL THEN ''unknown_customer''
                      WHEN r.profile_id IS NULL THEN ''customer_not_resolved''
                      %3$s END',
                t.amount_column, t.occurred_at_column,
                CASE WHEN convert THEN 'WHEN cr.rate IS NULL THEN ''unknown_currency''' ELSE '' END) END,
            CASE WHEN usable_only THEN pg_catalog.format(
                'WHERE x.%1$I IS NOT NULL AND x.%2$I::timestamptz OPERATOR(pg_catalog.<=) $1 AND r.profile_id IS NOT NULL',
                t.amount_column, t.occurred_at_column) ELSE '' END,
            -- with rates, amounts are converted, and an order in a currency without a rate is kept aside
            CASE WHEN convert THEN pg_catalog.format('(x.%I::numeric OPERATOR(pg_catalog.*) cr.rate)', t.amount_column)
                 ELSE pg_catalog.format('x.%I::numeric', t.amount_column) END,
            CASE WHEN convert THEN pg_catalog.format('%s cdp.currency_rates cr ON cr.currency OPERATOR(pg_catalog.=) %s', joins, cur)
                 ELSE '' END,
            joins);
    END LOOP;
    IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
        RETURN 'SELECT NULL::integer AS tsource_id, NULL::bigint AS profile_id, NULL::numeric AS amount,
                       NULL::timestamptz AS occurred_at, NULL::text AS currency, NULL::text AS issue WHERE false';
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

-- Refuse to add up amounts in several currencies: without rates in cdp.currency_rates the
-- orders must all be in one currency; with rates, every currency seen must have one (0A000).
CREATE FUNCTION cdp._check_currencies(staged boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t          cdp.transaction_sources;
    seen       text[];
    currencies text[] := '{}';
    missing    text;
    convert    boolean := EXISTS (SELECT 1 FROM cdp.currency_rates);
BEGIN
    -- one hashed DISTINCT per order table, straight from the orders
    FOR t IN SELECT * FROM cdp.transaction_sources WHERE currency_column IS NOT NULL ORDER BY tsource_id LOOP
        IF staged THEN
            SELECT pg_catalog.array_agg(DISTINCT x.currency) INTO seen FROM pg_temp.cdp_stage_orders x
             WHERE x.tsource_id OPERATOR(pg_catalog.=) t.tsource_id AND x.currency IS NOT NULL;
        ELSE
            EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(d.c) FROM (SELECT DISTINCT x.%I::text AS c FROM %s x WHERE x.%I IS NOT NULL) d',
                                      t.currency_column, t.source_table, t.currency_column) INTO seen;
        END IF;
        currencies := currencies OPERATOR(pg_catalog.||) COALESCE(seen, '{}');
    END LOOP;
    IF convert THEN
        -- converting needs every order's currency: a source without a currency column would
        -- drop out of every figure
        SELECT pg_catalog.string_agg(t2.source_table::text, ', ' ORDER BY t2.tsource_id) INTO missing
          FROM cdp.transaction_sources t2 WHERE t2.currency_column IS NULL;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'amounts are converted by cdp.currency_rates, but % has no currency column', missing
                  USING ERRCODE = '0A000',
                  HINT = 'register it with currency_column (a view can add a constant currency), or empty cdp.currency_rates';
        END IF;
        SELECT pg_catalog.string_agg(DISTINCT c, ', ' ORDER BY c) INTO missing
          FROM pg_catalog.unnest(currencies) c
         WHERE NOT EXISTS (SELECT 1 FROM cdp.currency_rates r WHERE r.currency OPERATOR(pg_catalog.=) c);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'no conversion rate for the currencies %', missing USING ERRCODE = '0A000',
                  HINT = 'add them to cdp.currency_rates (amount × rate = amount in the reporting currency)';
        END IF;
    ELSE
        SELECT pg_catalog.string_agg(DISTINCT c, ', ' ORDER BY c) INTO missing FROM pg_catalog.unnest(currencies) c
        HAVING pg_catalog.count(DISTINCT c) OPERATOR(pg_catalog.>) 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'transactions are in several currencies (%)', missing USING ERRCODE = '0A000',
                  HINT = 'give each currency a rate in cdp.currency_rates, or register a view that converts the amounts as the transaction source';
        END IF;
    END IF;
END
$$;

-- Every transaction row with its profile and, when it cannot be used, the reason.
CREATE FUNCTION cdp.transactions(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (tsource_id integer, profile_id bigint, amount numeric, occurred_at timestamptz, currency text, issue text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE cdp._transactions_sql(false) USING as_of;
END
$$;
COMMENT ON FUNCTION cdp.transactions(timestamptz) IS
'All registered transaction rows with their profile; amount converted by cdp.currency_rates when it has rows; issue says why a row cannot be used (null_amount, null_timestamp, future_timestamp, unknown_customer, customer_not_resolved, unknown_currency).';

CREATE VIEW cdp.transaction_report AS
SELECT s.source_table, COALESCE(x.issue, CASE WHEN x.amount OPERATOR(pg_catalog.<) 0 THEN 'refund' ELSE 'ok' END) AS status,
       pg_catalog.count(*) AS transactions
  FROM cdp.transactions() x JOIN cdp.transaction_sources s USING (tsource_id)
 GROUP BY 1, 2;
COMMENT ON VIEW cdp.transaction_report IS 'Transactions per source and status: ok, refund, or the reason a row is kept aside.';

CREATE VIEW cdp.rfm_segments AS SELECT * FROM cdp._rfm_segments();
COMMENT ON VIEW cdp.rfm_segments IS 'The R×F segment map in force (cdp.rfm_segment_map, or the standard map when it is empty).';

-- RFM per profile: recency in days since the last order, frequency = orders (refunds excluded),
-- monetary = net spend (refunds subtract), within the window before as_of; R, F, M scored 1-5 by
-- quintile (equal values share a score) or by the fixed thresholds of the cdp.rfm_*_thresholds
-- settings, the cell "RFM" and the named R×F segment.
CREATE FUNCTION cdp.compute_rfm(as_of timestamptz DEFAULT pg_catalog.now(), "window" interval DEFAULT '2 years')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF "window" IS NULL OR "window" OPERATOR(pg_catalog.<=) interval '0' THEN
        RAISE EXCEPTION 'window must be a positive interval, not %', "window" USING ERRCODE = '22023';
    END IF;
    PERFORM cdp._check_currencies();
    DELETE FROM cdp.rfm;
    EXECUTE pg_catalog.format($q$
    WITH a AS MATERIALIZED (
        SELECT x.profile_id,
               pg_catalog.floor(EXTRACT(epoch FROM $1 OPERATOR(pg_catalog.-) pg_catalog.max(x.occurred_at)) OPERATOR(pg_catalog./) 86400)::integer AS recency_days,
               (pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0))::integer AS frequency,
               pg_catalog.sum(x.amount) AS monetary_total
          FROM (%s) x
         WHERE x.occurred_at OPERATOR(pg_catalog.>) ($1 OPERATOR(pg_catalog.-) $2)
         GROUP BY x.profile_id
    ), scores AS (
        -- the arrays of one aggregate pass list the rows in the same order; scores do not
        -- depend on that order (equal values share a score), so no sort is needed
        SELECT q.*
          FROM (SELECT pg_catalog.array_agg(a.profile_id) AS ids,
                       pg_catalog.array_agg(a.recency_days::float8) AS rec,
                       pg_catalog.array_agg(a.frequency::float8) AS frq,
                       pg_catalog.array_agg(a.monetary_total::float8) AS mon
                  FROM a) z,
               LATERAL cdp._rfm_scores(COALESCE(z.ids, '{}'), COALESCE(z.rec, '{}'),
                                       COALESCE(z.frq, '{}'), COALESCE(z.mon, '{}')) q
    )
    INSERT INTO cdp.rfm (profile_id, recency_days, frequency, monetary_total, monetary_avg,
                         r_score, f_score, m_score, rfm_cell, segment, as_of)
    SELECT a.profile_id, a.recency_days, a.frequency, a.monetary_total,
           pg_catalog.round(a.monetary_total OPERATOR(pg_catalog./) NULLIF(a.frequency, 0), 2),
           s.r_score, s.f_score, s.m_score, s.rfm_cell, s.segment, $1
      FROM a JOIN scores s ON s.profile_id OPERATOR(pg_catalog.=) a.profile_id
    $q$, cdp._transactions_sql(true)) USING as_of, "window";
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION cdp.compute_rfm(timestamptz, interval) IS
'Compute cdp.rfm for every profile with orders in the window before as_of. Refuses mixed currencies (0A000). Returns the number of profiles scored.';

-- R x F counts and average monetary, every cell present: ready for a heatmap.
CREATE FUNCTION cdp.rfm_grid()
RETURNS TABLE (r_score smallint, f_score smallint, profiles bigint, avg_monetary numeric, segment text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r::smallint, f::smallint, pg_catalog.count(x.profile_id), pg_catalog.round(pg_catalog.avg(x.monetary_total), 2),
           (SELECT s.segment FROM cdp.rfm_segments s
             WHERE r BETWEEN s.r_min AND s.r_max AND f BETWEEN s.f_min AND s.f_max LIMIT 1)
      FROM pg_catalog.generate_series(1, 5) r
     CROSS JOIN pg_catalog.generate_series(1, 5) f
      LEFT JOIN cdp.rfm x ON x.r_score OPERATOR(pg_catalog.=) r AND x.f_score OPERATOR(pg_catalog.=) f
     GROUP BY r, f ORDER BY r DESC, f
$$;
COMMENT ON FUNCTION cdp.rfm_grid() IS 'R x F profile counts and average monetary, 25 cells, for a heatmap.';

-- Per-profile purchase summary in the BG/NBD conventions (as lifetimes' summary_data_from_transaction_data,
-- in days): purchases are the days with an order of a positive amount; frequency = repeat purchase days,
-- recency = first to last purchase day, t = first purchase day to as_of, monetary_value = mean
-- spend of the repeat purchase days (0 without repeats). orders and historical_value (net of
-- refunds) come from the same single pass over the orders.
CREATE FUNCTION cdp.clv_summary(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (profile_id bigint, frequency double precision, recency double precision, t double precision,
               monetary_value double precision, orders integer, historical_value numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM cdp._check_currencies();
    -- one pass over the orders into three arrays, grouped by (profile, day) in Rust: a GROUP BY
    -- over nearly as many (profile, day) groups as orders spills to disk at this size (an array
    -- holds at most 134M elements: the limit on usable orders)
    RETURN QUERY EXECUTE pg_catalog.format($q$
    SELECT s.profile_id, s.frequency, s.recency, s.t, s.monetary_value, s.orders,
           -- summed as float8 and rounded back to the largest scale of the amounts: exact while
           -- the total has at most 15 significant digits (cents up to about 10^12)
           pg_catalog.round(s.historical_value::numeric, COALESCE(z.sc, 0))
      FROM (SELECT pg_catalog.array_agg(x.profile_id) AS p,
                   pg_catalog.array_agg(pg_catalog.date_part('epoch', pg_catalog.date_trunc('day', x.occurred_at))) AS d,
                   pg_catalog.array_agg(x.amount::float8) AS a,
                   pg_catalog.max(pg_catalog.scale(x.amount)) AS sc
              FROM (%s) x) z,
           LATERAL cdp._clv_summary(COALESCE(z.p, '{}'), COALESCE(z.d, '{}'), COALESCE(z.a, '{}'),
                                    pg_catalog.date_part('epoch', $1)) s
    $q$, cdp._transactions_sql(true)) USING as_of;
END
$$;
COMMENT ON FUNCTION cdp.clv_summary(timestamptz) IS
'Per profile with at least one purchase: frequency (repeat purchase days), recency (first to last purchase, days), t (first purchase to as_of, days), monetary_value (mean spend of the repeat purchases), orders (purchase days) and historical_value (net of refunds): the input of the BG/NBD and Gamma-Gamma fit.';

-- Lifetime value per profile: historical (net spend so far, refunds subtracted) and predicted over the horizon by
-- BG/NBD (purchase count, P(alive)) and Gamma-Gamma (spend per order), fitted by maximum
-- likelihood over all profiles with orders (cdp.clv_summary).
CREATE FUNCTION cdp.compute_clv(as_of timestamptz DEFAULT pg_catalog.now(), horizon interval DEFAULT '1 year',
                                annual_discount double precision DEFAULT 0.1)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM cdp.clv;
    CREATE TEMP TABLE cdp_clv_summary ON COMMIT DROP AS SELECT * FROM cdp.clv_summary(as_of);
    WITH fit AS (
        -- one aggregate pass: the arrays list the customers in the same order
        SELECT f.*
          FROM (SELECT pg_catalog.array_agg(p.profile_id) AS ids,
                       pg_catalog.array_agg(p.frequency) AS xs,
                       pg_catalog.array_agg(p.recency) AS txs,
                       pg_catalog.array_agg(p.t) AS ts,
                       pg_catalog.array_agg(p.monetary_value) AS ms
                  FROM pg_temp.cdp_clv_summary p) z,
               LATERAL cdp._clv_fit(COALESCE(z.ids, '{}'), COALESCE(z.xs, '{}'), COALESCE(z.txs, '{}'),
                                    COALESCE(z.ts, '{}'), COALESCE(z.ms, '{}'),
                                    EXTRACT(epoch FROM horizon)::float8 OPERATOR(pg_catalog./) 86400, annual_discount) f
    )
    INSERT INTO cdp.clv (profile_id, orders, historical_value, p_alive, expected_purchases, expected_spend, predicted_clv, as_of)
    SELECT p.profile_id, p.orders, p.historical_value, f.p_alive, f.expected_purchases, f.expected_spend, f.clv, as_of
      FROM pg_temp.cdp_clv_summary p JOIN fit f ON f.profile_id OPERATOR(pg_catalog.=) p.profile_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE pg_temp.cdp_clv_summary;
    RETURN (SELECT pg_catalog.jsonb_build_object('profiles', n, 'model_id', m.model_id, 'converged', m.converged, 'params', m.params)
              FROM cdp.clv_model m ORDER BY m.model_id DESC LIMIT 1);
END
$$;
COMMENT ON FUNCTION cdp.compute_clv(timestamptz, interval, double precision) IS
'Fit BG/NBD and Gamma-Gamma over all profiles with orders (stored in cdp.clv_model) and write cdp.clv: historical value, P(alive), expected purchases, expected spend per order and discounted predicted CLV over the horizon.';

-- Where a customer key of an order or event table is one of the keys in $1 (text[]), written so
-- an index on the column serves it: integer and uuid keys compare as their own type (a text that
-- is not such a key cannot match and is left out, never cast into an error).
CREATE FUNCTION cdp._key_filter(source_table regclass, keycol name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN t IN ('smallint', 'integer', 'bigint') THEN pg_catalog.format(
                    'x.%I OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT k::pg_catalog.int8 FROM pg_catalog.unnest($1) k
                                                          WHERE k OPERATOR(pg_catalog.~) ''^-?[0-9]{1,18}$''))', keycol)
                WHEN t OPERATOR(pg_catalog.=) 'uuid' THEN pg_catalog.format(
                    'x.%I OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT k::pg_catalog.uuid FROM pg_catalog.unnest($1) k
                                                          WHERE k OPERATOR(pg_catalog.~*) ''^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$''))', keycol)
                ELSE pg_catalog.format('x.%I::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)', keycol) END
      FROM (SELECT cdp._column_type(source_table, keycol) AS t) z
$$;

-- The worker's read of the orders and events of the profiles in ids (NULL: of everyone) into the
-- session's stage tables, each table read as its owner (cdp._stage_as_owner), after checking
-- that the role that registered it may still read it (42501).
CREATE FUNCTION cdp._stage_activity(ids bigint[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t    record;
    keys text[];
BEGIN
    IF pg_catalog.to_regclass('pg_temp.cdp_stage_orders') IS NULL THEN
        CREATE TEMP TABLE cdp_stage_orders (tsource_id integer, source_key text, amount numeric, occurred_at timestamptz, currency text)
            ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE cdp_stage_events (esource_id integer, source_key text, event_type text, occurred_at timestamptz)
            ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE pg_temp.cdp_stage_orders, pg_temp.cdp_stage_events;
    FOR t IN SELECT 'orders' AS kind, o.tsource_id AS id, o.source_table, o.customer_source_id, o.customer_key_column AS keycol,
                    pg_catalog.format('x.%I::numeric, x.%I::timestamptz, %s', o.amount_column, o.occurred_at_column,
                        CASE WHEN o.currency_column IS NULL THEN 'NULL::text' ELSE pg_catalog.format('x.%I::text', o.currency_column) END) AS cols,
                    o.registered_by
               FROM cdp.transaction_sources o
             UNION ALL
             SELECT 'events', e.esource_id, e.source_table, e.customer_source_id, e.customer_key_column,
                    pg_catalog.format('x.%I::text, x.%I::timestamptz', e.event_type_column, e.occurred_at_column), e.registered_by
               FROM cdp.event_sources e
             ORDER BY 1, 2 LOOP
        IF NOT pg_catalog.has_table_privilege(t.registered_by, t.source_table, 'SELECT') THEN
            RAISE EXCEPTION 'role % that registered % may no longer read it', t.registered_by, t.source_table USING ERRCODE = '42501',
                  HINT = 'grant it SELECT again, or unregister the table';
        END IF;
        keys := NULL;
        IF ids IS NOT NULL THEN
            SELECT pg_catalog.array_agg(r.source_key) INTO keys FROM cdp.records r
             WHERE r.source_id OPERATOR(pg_catalog.=) t.customer_source_id AND r.profile_id OPERATOR(pg_catalog.=) ANY (ids);
            CONTINUE WHEN keys IS NULL;
        END IF;
        PERFORM cdp._stage_as_owner(t.source_table, 'pg_temp.cdp_stage_' OPERATOR(pg_catalog.||) t.kind,
                    pg_catalog.format('SELECT %s, x.%I::text, %s FROM %s x%s', t.id, t.keycol, t.cols, t.source_table,
                                      CASE WHEN ids IS NULL THEN '' ELSE ' WHERE ' OPERATOR(pg_catalog.||) cdp._key_filter(t.source_table, t.keycol) END),
                    keys);
    END LOOP;
END
$$;

-- The SQL text of every usable behaviour event with its profile ($1: the as-of time; an event
-- later than it is left out), one SELECT per event source, read from the tables or (staged) from
-- the worker's stage.
CREATE FUNCTION cdp._events_sql(staged boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e     cdp.event_sources;
    parts text[] := '{}';
    rel   text;
BEGIN
    FOR e IN SELECT * FROM cdp.event_sources ORDER BY esource_id LOOP
        rel := e.source_table::text;
        IF staged THEN
            rel := pg_catalog.format('(SELECT s.source_key AS %I, s.event_type AS %I, s.occurred_at AS %I
                                         FROM pg_temp.cdp_stage_events s WHERE s.esource_id OPERATOR(pg_catalog.=) %s)',
                                     e.customer_key_column, e.event_type_column, e.occurred_at_column, e.esource_id);
        END IF;
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
            'SELECT %1$s::integer AS esource_id, r.profile_id, x.%3$I::text AS event_type,
                    x.%4$I::timestamptz AS occurred_at, %5$L::text AS channel
               FROM %2$s x JOIN cdp.records r ON r.source_id OPERATOR(pg_catalog.=) %6$s
                                      AND r.source_key OPERATOR(pg_catalog.=) x.%7$I::text
              WHERE x.%4$I IS NOT NULL AND x.%4$I::timestamptz OPERATOR(pg_catalog.<=) $1 AND r.profile_id IS NOT NULL',
            e.esource_id, rel, e.event_type_column, e.occurred_at_column, e.channel, e.customer_source_id, e.customer_key_column);
    END LOOP;
    IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
        RETURN 'SELECT NULL::integer AS esource_id, NULL::bigint AS profile_id, NULL::text AS event_type,
                       NULL::timestamptz AS occurred_at, NULL::text AS channel WHERE false';
    END IF;
    RETURN pg_catalog.array_to_string(parts, ' UNION ALL ');
END
$$;

-- Every behaviour event with its profile (usable rows: a timestamp not after as_of, a resolved
-- customer), read with the caller's rights.
CREATE FUNCTION cdp.behaviour_events(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (esource_id integer, profile_id bigint, event_type text, occurred_at timestamptz, channel text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE cdp._events_sql(false) USING as_of;
END
$$;
COMMENT ON FUNCTION cdp.behaviour_events(timestamptz) IS
'All registered behaviour events with their profile (events with a timestamp, not later than as_of, whose customer row is resolved).';

-- The traits of the profiles in ids (NULL: every profile) from their orders and events, in
-- cdp.profile_traits: read from the tables with the caller's rights (cdp.compute_traits) or from
-- the worker's stage. Built-in and custom traits, as of a time. The cluster labels stay.
CREATE FUNCTION cdp._write_traits(ids bigint[], as_of timestamptz, staged boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d cdp.trait_definitions;
BEGIN
    PERFORM cdp._check_currencies(staged);
    EXECUTE pg_catalog.format(
        'CREATE TEMP TABLE cdp_tx ON COMMIT DROP AS
         SELECT x.profile_id, x.amount, x.occurred_at, x.currency, x.tsource_id, s.channel
           FROM (%s) x JOIN cdp.transaction_sources s USING (tsource_id)
          WHERE $2 IS NULL OR x.profile_id OPERATOR(pg_catalog.=) ANY ($2)', cdp._transactions_sql(true, staged)) USING as_of, ids;
    EXECUTE pg_catalog.format(
        'CREATE TEMP TABLE cdp_ev ON COMMIT DROP AS
         SELECT x.* FROM (%s) x WHERE $2 IS NULL OR x.profile_id OPERATOR(pg_catalog.=) ANY ($2)', cdp._events_sql(staged)) USING as_of, ids;
    DELETE FROM cdp.profile_traits t
     WHERE t.trait OPERATOR(pg_catalog.<>) 'cluster' AND (ids IS NULL OR t.profile_id OPERATOR(pg_catalog.=) ANY (ids));
    INSERT INTO cdp.profile_traits (profile_id, trait, value, text_value)
    SELECT t.profile_id, v.trait, v.value, v.text_value
      FROM (SELECT x.profile_id,
                   EXTRACT(epoch FROM pg_catalog.min(x.occurred_at))::float8 AS first_seen,
                   EXTRACT(epoch FROM pg_catalog.max(x.occurred_at))::float8 AS last_seen,
                   (EXTRACT(epoch FROM as_of OPERATOR(pg_catalog.-) pg_catalog.max(x.occurred_at)) OPERATOR(pg_catalog./) 86400)::float8 AS days_since_last_order,
                   (EXTRACT(epoch FROM as_of OPERATOR(pg_catalog.-) pg_catalog.min(x.occurred_at)) OPERATOR(pg_catalog./) 86400)::float8 AS tenure_days,
                   (pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0))::float8 AS orders,
                   pg_catalog.sum(x.amount)::float8 AS revenue,
                   (pg_catalog.sum(x.amount) OPERATOR(pg_catalog./) NULLIF(pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0), 0))::float8 AS average_order_value,
                   pg_catalog.mode() WITHIN GROUP (ORDER BY x.channel) AS preferred_channel
              FROM pg_temp.cdp_tx x GROUP BY x.profile_id) t
     CROSS JOIN LATERAL (VALUES
            ('first_seen', t.first_seen, NULL::text), ('last_seen', t.last_seen, NULL),
            ('days_since_last_order', t.days_since_last_order, NULL), ('tenure_days', t.tenure_days, NULL),
            ('orders', t.orders, NULL), ('revenue', t.revenue, NULL),
            ('average_order_value', t.average_order_value, NULL), ('preferred_channel', NULL, t.preferred_channel)) v(trait, value, text_value);
    -- orders and revenue per channel
    INSERT INTO cdp.profile_traits (profile_id, trait, value)
    SELECT x.profile_id, 'orders_' OPERATOR(pg_catalog.||) COALESCE(x.channel, 'unknown'),
           (pg_catalog.count(*) FILTER (WHERE x.amount OPERATOR(pg_catalog.>) 0))::float8
      FROM pg_temp.cdp_tx x GROUP BY 1, 2
    UNION ALL
    SELECT x.profile_id, 'revenue_' OPERATOR(pg_catalog.||) COALESCE(x.channel, 'unknown'), pg_catalog.sum(x.amount)::float8
      FROM pg_temp.cdp_tx x GROUP BY 1, 2;
    -- custom traits, over the orders or over the events
    FOR d IN SELECT * FROM cdp.trait_definitions ORDER BY trait LOOP
        EXECUTE pg_catalog.format(
            'INSERT INTO cdp.profile_traits (profile_id, trait, value)
             SELECT x.profile_id, %L, (%s)::float8 FROM %s x GROUP BY x.profile_id',
            d.trait, cdp._check_trait_expression(d.expression, d.over),
            CASE d.over WHEN 'events' THEN 'pg_temp.cdp_ev' ELSE 'pg_temp.cdp_tx' END);
    END LOOP;
    DROP TABLE pg_temp.cdp_tx, pg_temp.cdp_ev;
END
$$;

-- Built-in and custom traits per profile from the orders and events (as of a time), in cdp.profile_traits.
CREATE FUNCTION cdp.compute_traits(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM cdp._write_traits(NULL, as_of, false);
    RETURN (SELECT pg_catalog.count(DISTINCT t.profile_id) FROM cdp.profile_traits t);
END
$$;
COMMENT ON FUNCTION cdp.compute_traits(timestamptz) IS
'Built-in traits (first_seen, last_seen, days_since_last_order, tenure_days, orders, revenue, average_order_value, preferred_channel, orders_<channel>, revenue_<channel>) and custom traits over orders and behaviour events per profile, in cdp.profile_traits. Returns the number of profiles. The worker keeps them current afterwards.';

-- The worker's step: refresh the traits of the profiles whose orders or events changed (queued
-- by the capture triggers) or that a resolve run created, changed or removed, reading only
-- their rows (each table as its owner). Traits are kept current once they are in use: computed
-- once by cdp.compute_traits, or read by a segment. More than 100,000 profiles at once is one
-- pass over everything.
CREATE FUNCTION cdp._worker_traits(max_profiles integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    ids  bigint[];
    whole boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.activity_queue) AND NOT EXISTS (SELECT 1 FROM cdp.trait_dirty) THEN
        RETURN '{"profiles": 0}'::jsonb;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.profile_traits) AND NOT EXISTS (SELECT 1 FROM cdp.segments) THEN
        DELETE FROM cdp.activity_queue;
        DELETE FROM cdp.trait_dirty;
        RETURN '{"profiles": 0, "traits_in_use": false}'::jsonb;
    END IF;
    -- the customers of changed orders and events, to their profiles (a customer row not resolved
    -- yet gets its traits when resolving creates or changes its profile)
    WITH q AS (DELETE FROM cdp.activity_queue q RETURNING q.customer_source_id, q.source_key),
    marked AS (
        INSERT INTO cdp.trait_dirty (profile_id)
        SELECT DISTINCT r.profile_id FROM q JOIN cdp.records r
            ON r.source_id OPERATOR(pg_catalog.=) q.customer_source_id AND r.source_key OPERATOR(pg_catalog.=) q.source_key
         WHERE r.profile_id IS NOT NULL
        RETURNING 1)
    SELECT COALESCE(pg_catalog.bool_or(q.source_key IS NULL), false) INTO whole FROM q;
    whole := whole OR (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM cdp.trait_dirty LIMIT 100001) z) OPERATOR(pg_catalog.>) 100000;
    IF whole THEN
        DELETE FROM cdp.trait_dirty;
    ELSE
        WITH d AS (
            DELETE FROM cdp.trait_dirty x
             WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM cdp.trait_dirty y LIMIT max_profiles))
            RETURNING x.profile_id)
        SELECT pg_catalog.array_agg(DISTINCT d.profile_id) INTO ids FROM d;
        IF ids IS NULL THEN
            RETURN '{"profiles": 0}'::jsonb;
        END IF;
    END IF;
    PERFORM cdp._stage_activity(ids);
    PERFORM cdp._write_traits(ids, pg_catalog.now(), true);
    RETURN pg_catalog.jsonb_build_object('profiles', COALESCE(pg_catalog.cardinality(ids), -1), 'whole', whole,
                                         'more', EXISTS (SELECT 1 FROM cdp.trait_dirty));
END
$$;

-- Every trait name a segment rule may use, and whether its value is text: the built-in traits,
-- the per-channel ones of the registered order tables and the custom definitions (computed or not).
CREATE FUNCTION cdp._trait_names()
RETURNS TABLE (trait text, is_text boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT z.t, z.t OPERATOR(pg_catalog.=) 'preferred_channel' FROM (
        SELECT pg_catalog.unnest(ARRAY['first_seen', 'last_seen', 'days_since_last_order', 'tenure_days', 'orders',
                                       'revenue', 'average_order_value', 'preferred_channel', 'cluster']) AS t
        UNION SELECT d.trait FROM cdp.trait_definitions d
        UNION SELECT k OPERATOR(pg_catalog.||) COALESCE(s.channel, 'unknown')
                FROM cdp.transaction_sources s, pg_catalog.unnest(ARRAY['orders_', 'revenue_']) k) z
$$;

-- A custom trait: an aggregate expression over a profile's orders (amount, occurred_at,
-- currency, tsource_id, channel) or over its behaviour events (over => 'events': event_type,
-- occurred_at, channel, esource_id), checked by cdp._check_trait_expression when defined (and
-- again at every computation): one expression of an allowed subset, so it can run nothing but
-- built-in functions over those columns.
CREATE FUNCTION cdp.define_trait(name text, expression text, over text DEFAULT 'orders')
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    checked text;
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid trait name "%"', name USING ERRCODE = '22023',
              HINT = 'lowercase letters, digits and underscores, starting with a letter or underscore';
    END IF;
    IF name IN ('first_seen', 'last_seen', 'days_since_last_order', 'tenure_days', 'orders', 'revenue',
                'average_order_value', 'preferred_channel', 'cluster') OR name ~ '^(orders|revenue)_' THEN
        RAISE EXCEPTION 'trait "%" is built in', name USING ERRCODE = '42710';
    END IF;
    over := COALESCE(over, 'orders');
    checked := cdp._check_trait_expression(expression, over);
    BEGIN
        -- the checked expression must also be a valid aggregate over the rows, giving a number
        EXECUTE pg_catalog.format(
            'SELECT (%s)::float8 FROM (SELECT NULL::bigint AS profile_id, %s) x GROUP BY x.profile_id', checked,
            CASE over WHEN 'events' THEN 'NULL::text AS event_type, NULL::timestamptz AS occurred_at, NULL::text AS channel, NULL::integer AS esource_id'
                      ELSE 'NULL::numeric AS amount, NULL::timestamptz AS occurred_at, NULL::text AS currency, NULL::integer AS tsource_id, NULL::text AS channel' END);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'trait expression "%" is not a numeric aggregate over the %: %', expression, over, SQLERRM
              USING ERRCODE = '42601', HINT = CASE over WHEN 'events' THEN 'e.g. count(*) FILTER (WHERE event_type = ''add_to_cart'')'
                                                    ELSE 'e.g. sum(amount) FILTER (WHERE amount > 1000)' END;
    END;
    INSERT INTO cdp.trait_definitions (trait, expression, over, defined_by) VALUES (name, expression, over, cdp._acting_role())
    ON CONFLICT (trait) DO UPDATE SET expression = EXCLUDED.expression, over = EXCLUDED.over, defined_by = EXCLUDED.defined_by,
                                      created_at = pg_catalog.now();
    PERFORM cdp._audit('trait.define', name, pg_catalog.jsonb_build_object('expression_sha256', cdp._text_digest(expression), 'over', over));
    RETURN true;
END
$$;
COMMENT ON FUNCTION cdp.define_trait(text, text, text) IS
'Define (or redefine) a custom numeric trait as an aggregate SQL expression over a profile''s orders (over => ''orders'') or behaviour events (over => ''events''); computed by cdp.compute_traits and kept current by the worker.';

-- k-means over standardised numeric traits; labels stored as trait "cluster".
CREATE FUNCTION cdp.cluster_profiles(k integer, traits text[], seed bigint DEFAULT 42)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
    result  jsonb;
BEGIN
    IF traits IS NULL OR pg_catalog.cardinality(traits) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'name at least one numeric trait' USING ERRCODE = '22023';
    END IF;
    SELECT t INTO missing FROM pg_catalog.unnest(traits) t
     WHERE NOT EXISTS (SELECT 1 FROM cdp.profile_traits p WHERE p.trait OPERATOR(pg_catalog.=) t AND p.value IS NOT NULL) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'trait "%" has no numeric values', missing USING ERRCODE = '22023',
              HINT = 'run cdp.compute_traits() first; numeric traits: SELECT DISTINCT trait FROM cdp.profile_traits WHERE value IS NOT NULL';
    END IF;
    DELETE FROM cdp.profile_traits WHERE trait OPERATOR(pg_catalog.=) 'cluster';
    WITH rows AS (
        -- profiles with every requested trait (a missing one is no zero)
        SELECT p.profile_id, pg_catalog.array_agg(p.value ORDER BY pg_catalog.array_position(traits, p.trait)) AS v
          FROM cdp.profile_traits p
         WHERE p.trait OPERATOR(pg_catalog.=) ANY (traits) AND p.value IS NOT NULL
         GROUP BY p.profile_id
        HAVING pg_catalog.count(*) OPERATOR(pg_catalog.=) pg_catalog.cardinality(traits)
    ), km AS (
        SELECT f.* FROM (SELECT pg_catalog.array_agg(r.profile_id ORDER BY r.profile_id) AS ids,
                                pg_catalog.array_agg(pg_catalog.array_to_string(r.v, ',') ORDER BY r.profile_id) AS vs
                           FROM rows r) z,
               LATERAL cdp._kmeans(COALESCE(z.ids, '{}'), COALESCE(z.vs, '{}'), k, seed) f
    ), ins AS (
        INSERT INTO cdp.profile_traits (profile_id, trait, value)
        SELECT km.profile_id, 'cluster', km.label FROM km WHERE km.profile_id IS NOT NULL
        RETURNING 1
    )
    SELECT pg_catalog.jsonb_build_object('profiles', (SELECT pg_catalog.count(*) FROM ins),
                                         'k', k, 'traits', pg_catalog.to_jsonb(traits),
                                         'inertia', (SELECT pg_catalog.max(km.inertia) FROM km),
                                         'iterations', (SELECT pg_catalog.max(km.iterations) FROM km))
      INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION cdp.cluster_profiles(integer, text[], bigint) IS
'k-means (k-means++ start, deterministic seed) over the standardised numeric traits named; labels stored as trait "cluster"; returns inertia so k can be chosen (elbow).';

-- The analysts' view: one row per profile with its golden record, RFM and lifetime value.
CREATE VIEW cdp.customer_360 AS
SELECT p.profile_id,
       p.display OPERATOR(pg_catalog.->>) 'full_name' AS name,
       p.email, p.phone, p.birth_date, p.city, p.country,
       p.record_count, p.source_count,
       r.recency_days, r.frequency, r.monetary_total, r.r_score, r.f_score, r.m_score, r.rfm_cell, r.segment,
       c.orders, c.historical_value, c.p_alive, c.expected_purchases, c.predicted_clv,
       (SELECT pg_catalog.jsonb_object_agg(t.trait, COALESCE(pg_catalog.to_jsonb(t.value), pg_catalog.to_jsonb(t.text_value)))
          FROM cdp.profile_traits t WHERE t.profile_id OPERATOR(pg_catalog.=) p.profile_id) AS traits,
       p.created_at, p.updated_at,
       k.email_opt_in, k.sms_opt_in, k.push_opt_in, k.profiling_opt_in
  FROM cdp.profiles p
  LEFT JOIN cdp.rfm r ON r.profile_id OPERATOR(pg_catalog.=) p.profile_id
  LEFT JOIN cdp.clv c ON c.profile_id OPERATOR(pg_catalog.=) p.profile_id
  LEFT JOIN cdp.profile_consent k ON k.profile_id OPERATOR(pg_catalog.=) p.profile_id;
COMMENT ON VIEW cdp.customer_360 IS 'Profile, golden record, RFM, lifetime value, traits and consent in force in one row per person.';

-- Descriptions (\d+ shows them; the reference test requires one for every table and function).
COMMENT ON TABLE cdp.transaction_sources IS 'Registered order tables (cdp.add_transaction_source), attributed to profiles through a customer source''s rows.';
COMMENT ON TABLE cdp.event_sources IS 'Registered behaviour event tables (cdp.add_event_source), attributed to profiles through a customer source''s rows.';
COMMENT ON TABLE cdp.activity_queue IS 'Customer keys whose orders or behaviour events changed (capture triggers); the worker refreshes their profiles'' traits. NULL key: the whole table.';
COMMENT ON TABLE cdp.trait_dirty IS 'Profiles whose traits the worker refreshes next.';
COMMENT ON TABLE cdp.currency_rates IS 'Conversion of order amounts to one reporting currency (amount x rate). Empty: amounts are used as they are and mixed currencies are refused.';
COMMENT ON TABLE cdp.rfm_segment_map IS 'A replacement R x F segment map (empty: the standard map; see cdp.rfm_segments).';
COMMENT ON TABLE cdp.rfm IS 'Recency, frequency and monetary value per profile with their scores, cell and named segment (cdp.compute_rfm).';
COMMENT ON TABLE cdp.clv_model IS 'Lifetime-value fits (BG/NBD and Gamma-Gamma): parameters and diagnostics of each cdp.compute_clv.';
COMMENT ON TABLE cdp.clv IS 'Lifetime value per profile from the latest fit: historical value, P(alive), expected purchases and spend, predicted CLV (cdp.compute_clv).';
COMMENT ON TABLE cdp.profile_traits IS 'Profile traits in long form: built-in, custom (cdp.define_trait) and cluster labels; numbers in value, text in text_value.';
COMMENT ON TABLE cdp.trait_definitions IS 'Custom traits (cdp.define_trait): an aggregate expression over a profile''s orders or behaviour events.';
