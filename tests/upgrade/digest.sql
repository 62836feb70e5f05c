-- One line per table and sequence of schema cdp: a table's name, row count and an md5 of its rows
-- in a fixed order; a sequence's name and last value. Two databases with the same lines hold the
-- same pg_cdp data. Used by tests/upgrade/pg_upgrade_check.
\set QUIET on
\pset tuples_only on
\pset format unaligned
SELECT string_agg(pg_catalog.format(
         $q$SELECT %L || ' ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '-') FROM cdp.%I t$q$,
         c.relname, c.relname), ' UNION ALL ' ORDER BY c.relname) AS digest_sql
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind = 'r'
\gset
SELECT line FROM (:digest_sql) d(line) ORDER BY 1;
SELECT c.relname || ' ' || coalesce(pg_catalog.pg_sequence_last_value(c.oid)::text, 'unused')
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind = 'S' ORDER BY 1;
