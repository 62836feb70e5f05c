-- pg_cdp 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_cdp UPDATE TO '0.2.0')
--
-- Every schema change of a version is written twice: in the install script (sql/*.sql, the Rust
-- functions) for a fresh CREATE EXTENSION, and here for a database that already has the previous
-- version. The client test `an_upgraded_database_equals_a_fresh_install_and_keeps_its_data`
-- installs 0.1.0 (sql/history/pg_cdp--0.1.0.sql), updates it and compares the catalog with a
-- fresh install of this version, object by object. CHANGELOG.md says what each version changed.
\echo Use "ALTER EXTENSION pg_cdp UPDATE TO '0.2.0'" to load this file. \quit
