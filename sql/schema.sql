-- pg_cdp schema: the tables every part shares.
-- Everything lives in schema cdp (the control file fixes it); names are schema-qualified throughout
-- so nothing depends on the caller's search_path.

-- Registered sources: one row per user table that feeds pg_cdp.
CREATE TABLE cdp.sources (
    source_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_table   regclass NOT NULL UNIQUE,
    key_column     name NOT NULL,
    mapping        jsonb NOT NULL,
    channel        text,
    priority       integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_synced_at timestamptz,
    last_sync      jsonb
);
COMMENT ON TABLE cdp.sources IS 'Tables registered with cdp.add_source: key column, attribute mapping, channel, priority.';
COMMENT ON COLUMN cdp.sources.mapping IS 'Identity attribute -> source column, e.g. {"email":"mail","phone":"gsm"}.';
COMMENT ON COLUMN cdp.sources.last_sync IS 'Counts from the last cdp.sync_source: inserted, updated, unchanged, deleted, quarantined, seconds.';

-- One row per source row: normalised attributes for matching, originals for display and audit.
CREATE TABLE cdp.records (
    record_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id     integer NOT NULL REFERENCES cdp.sources (source_id) ON DELETE CASCADE,
    source_key    text NOT NULL,
    first_name    text,
    last_name     text,
    full_name     text,
    email         text,
    phone         text,
    birth_date    date,
    gender        text,
    street        text,
    city          text,
    postcode      text,
    region        text,
    country       text,
    national_id   text,
    external_id   text,
    anonymous_id  text,
    original      jsonb NOT NULL,
    quality       jsonb NOT NULL DEFAULT '{}'::jsonb,
    profile_id    bigint,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT records_source_key_unique UNIQUE (source_id, source_key)
);
CREATE INDEX records_profile_id_idx ON cdp.records (profile_id);
COMMENT ON TABLE cdp.records IS 'One row per source row: normalised identity attributes (matching forms), the original values, and quality flags.';
COMMENT ON COLUMN cdp.records.original IS 'Raw values as read from the source, keyed by attribute name.';
COMMENT ON COLUMN cdp.records.quality IS 'Attribute -> reason code for each value that could not be used (kept in original, NULL in the normalised column).';

-- Source rows that cannot become records at all (e.g. a NULL key) are kept here with the reason.
CREATE TABLE cdp.quarantine (
    quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id     integer REFERENCES cdp.sources (source_id) ON DELETE CASCADE,
    source_key    text,
    reason        text NOT NULL,
    detail        text,
    row_data      jsonb,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX quarantine_source_idx ON cdp.quarantine (source_id, reason);
COMMENT ON TABLE cdp.quarantine IS 'Source rows that could not be used, with the reason; never silently dropped.';

-- Per attribute and reason: how many values could not be used.
CREATE VIEW cdp.quality_report AS
SELECT s.source_id,
       s.source_table,
       s.channel,
       q.key   AS attribute,
       q.value AS reason,
       pg_catalog.count(*) AS records
  FROM cdp.records r
  JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
 CROSS JOIN LATERAL pg_catalog.jsonb_each_text(r.quality) q
 GROUP BY s.source_id, s.source_table, s.channel, q.key, q.value;
COMMENT ON VIEW cdp.quality_report IS 'Count of unusable values per source, attribute and reason code.';

-- Per source: what is registered and how much of it is synced.
CREATE VIEW cdp.source_summary AS
SELECT s.source_id,
       s.source_table,
       s.channel,
       s.priority,
       (SELECT pg_catalog.count(*) FROM cdp.records r
         WHERE r.source_id OPERATOR(pg_catalog.=) s.source_id) AS records,
       (SELECT pg_catalog.count(*) FROM cdp.records r
         WHERE r.source_id OPERATOR(pg_catalog.=) s.source_id
           AND r.quality OPERATOR(pg_catalog.<>) '{}'::jsonb) AS records_with_issues,
       (SELECT pg_catalog.count(*) FROM cdp.quarantine q
         WHERE q.source_id OPERATOR(pg_catalog.=) s.source_id) AS quarantined,
       s.last_synced_at
  FROM cdp.sources s;
COMMENT ON VIEW cdp.source_summary IS 'Registered sources with record, issue and quarantine counts.';

-- pg_dump keeps the configuration (what is registered); records are rebuilt by cdp.sync_source.
SELECT pg_catalog.pg_extension_config_dump('cdp.sources', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.sources_source_id_seq', '');

-- Least privilege: nothing in cdp is readable by PUBLIC; grant per role.
REVOKE ALL ON ALL TABLES IN SCHEMA cdp FROM PUBLIC;
