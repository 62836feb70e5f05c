//! `#[pg_test]` layer: SQL functions exercised inside a real PostgreSQL backend (each test runs
//! in a transaction that is rolled back). Error SQLSTATEs are checked by the pg_regress layer and
//! the client tests, which see them the way users do.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn one<T: IntoDatum + FromDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).expect(sql)
    }

    fn setup_web() {
        Spi::run(
            "CREATE TABLE public.web (id bigint PRIMARY KEY, mail text, name text, gsm text, born text, town text);
             INSERT INTO public.web VALUES
               (1, '  Ayse.Yilmaz@Example-Mail.com ', 'Dr. Ayşe Yılmaz', '0532 123 45 67', '17.03.1990', 'İstanbul'),
               (2, 'test@test.com', 'İSMAİL ŞAHİN', '+90 (532) 765 43 21', '1985-02-30', 'Ankara'),
               (3, 'not-an-email', 'N/A', '0000000000', '2150-01-01', NULL),
               (4, NULL, NULL, NULL, NULL, NULL);",
        )
        .unwrap();
        let id = one::<i32>(
            r#"SELECT cdp.add_source('public.web', 'id',
                 '{"email":"mail","full_name":"name","phone":"gsm","birth_date":"born","city":"town"}', 'web', 10)"#,
        );
        assert!(id.unwrap() > 0);
    }

    #[pg_test]
    fn sync_normalises_and_keeps_originals() {
        Spi::run("SET cdp.default_country = 'TR'").unwrap();
        setup_web();
        assert_eq!(one::<i64>("SELECT cdp.sync_source('public.web')"), Some(4));
        assert_eq!(
            one::<String>("SELECT phone FROM cdp.records WHERE source_key = '1'").as_deref(),
            Some("+905321234567")
        );
        assert_eq!(
            one::<String>("SELECT first_name || '|' || last_name FROM cdp.records WHERE source_key = '1'").as_deref(),
            Some("ayse|yilmaz")
        );
        assert_eq!(
            one::<String>("SELECT birth_date::text FROM cdp.records WHERE source_key = '1'").as_deref(),
            Some("1990-03-17")
        );
        // İSMAİL ŞAHİN folds to the same form a plain-ASCII channel would produce
        assert_eq!(
            one::<String>("SELECT full_name FROM cdp.records WHERE source_key = '2'").as_deref(),
            Some("ismail sahin")
        );
        // original kept verbatim for display and audit
        assert_eq!(
            one::<String>("SELECT original->>'full_name' FROM cdp.records WHERE source_key = '1'").as_deref(),
            Some("Dr. Ayşe Yılmaz")
        );
    }

    /// A sync inserts without ON CONFLICT only where an enforced unique index covers every row
    /// it reads. An inheritance child repeating its parent's key is read too: the sync goes on
    /// and keeps one record per key.
    #[pg_test]
    fn a_key_repeated_by_an_inheritance_child_keeps_one_record() {
        Spi::run(
            "CREATE TABLE public.parent_t (id integer PRIMARY KEY, mail text);
             CREATE TABLE public.child_t () INHERITS (public.parent_t);
             INSERT INTO public.parent_t VALUES (1, 'a@example-mail.com'), (2, 'b@example-mail.com');
             INSERT INTO public.child_t VALUES (2, 'b2@example-mail.com'), (3, 'c@example-mail.com');",
        )
        .unwrap();
        Spi::run(r#"SELECT cdp.add_source('public.parent_t', 'id', '{"email":"mail"}')"#).unwrap();
        assert_eq!(one::<i64>("SELECT cdp.sync_source('public.parent_t')"), Some(3));
        assert_eq!(one::<i64>("SELECT count(DISTINCT source_key) FROM cdp.records"), Some(3));
        // and again, with nothing new
        assert_eq!(one::<i64>("SELECT cdp.sync_source('public.parent_t')"), Some(3));
    }

    /// The other ways a stage can repeat a key: a unique key that is only checked at commit
    /// (this transaction holds the duplicate), and a key whose unique index was dropped after
    /// registration. Each sync goes on and keeps one record per key.
    #[pg_test]
    fn a_key_repeated_under_a_deferred_or_dropped_unique_index_keeps_one_record() {
        Spi::run(
            "CREATE TABLE public.deferred_t (id integer UNIQUE DEFERRABLE INITIALLY DEFERRED, mail text);
             CREATE TABLE public.dropped_t (id integer CONSTRAINT dropped_t_key UNIQUE, mail text);",
        )
        .unwrap();
        for t in ["deferred_t", "dropped_t"] {
            Spi::run(&format!(r#"SELECT cdp.add_source('public.{t}', 'id', '{{"email":"mail"}}')"#)).unwrap();
        }
        Spi::run(
            "ALTER TABLE public.dropped_t DROP CONSTRAINT dropped_t_key;
             INSERT INTO public.deferred_t VALUES (1, 'a@example-mail.com'), (1, 'a2@example-mail.com'), (2, 'b@example-mail.com');
             INSERT INTO public.dropped_t VALUES (1, 'c@example-mail.com'), (1, 'c2@example-mail.com'), (2, 'd@example-mail.com');",
        )
        .unwrap();
        for t in ["deferred_t", "dropped_t"] {
            assert_eq!(one::<i64>(&format!("SELECT cdp.sync_source('public.{t}')")), Some(2), "{t}");
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records"), Some(4));
    }

    /// The insert stores the `original` object `cdp._normalise_row` returns; the update compares
    /// the one SQL builds. They must be the same jsonb for any text, or every re-sync would
    /// rewrite every record.
    #[pg_test]
    fn original_from_the_normaliser_equals_the_sql_object() {
        let sql = r#"WITH v(t) AS (
                 SELECT chr(c) FROM generate_series(1, 31) c
                 UNION ALL VALUES ('\'), ('"'), (U&'\2028'), (U&'\+01F600'), (''), (' é ş İ '), ('{"a":1}'), ('null'), ('1e5')),
               r AS (SELECT ARRAY[t, NULL, NULL, t || 'x', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL]::text[] AS raw
                       FROM v),
               n AS (SELECT raw, cdp._normalise_row(raw) AS out FROM r)
             SELECT pg_catalog.count(*) FILTER (WHERE out[pg_catalog.array_length(out, 1)]::jsonb
                      IS DISTINCT FROM jsonb_strip_nulls(jsonb_build_object('first_name', raw[1], 'email', raw[4], 'phone', raw[5])))
                    * 1000 + pg_catalog.count(*)
               FROM n"#;
        // none differs, of the 40 values
        assert_eq!(one::<i64>(sql), Some(40));
    }

    #[pg_test]
    fn unusable_values_are_kept_with_a_reason() {
        setup_web();
        Spi::run("SELECT cdp.sync_source('public.web')").unwrap();
        assert_eq!(one::<String>("SELECT quality->>'email' FROM cdp.records WHERE source_key = '2'").as_deref(), Some("placeholder"));
        assert_eq!(one::<String>("SELECT quality->>'birth_date' FROM cdp.records WHERE source_key = '2'").as_deref(), Some("impossible_date"));
        assert_eq!(one::<String>("SELECT quality->>'email' FROM cdp.records WHERE source_key = '3'").as_deref(), Some("invalid_format"));
        assert_eq!(one::<String>("SELECT quality->>'phone' FROM cdp.records WHERE source_key = '3'").as_deref(), Some("placeholder"));
        assert_eq!(one::<String>("SELECT quality->>'birth_date' FROM cdp.records WHERE source_key = '3'").as_deref(), Some("implausible_date"));
        // the unusable value stays in original, the matching column is NULL
        assert_eq!(one::<String>("SELECT original->>'email' FROM cdp.records WHERE source_key = '3'").as_deref(), Some("not-an-email"));
        assert_eq!(one::<bool>("SELECT email IS NULL FROM cdp.records WHERE source_key = '3'"), Some(true));
        // an all-NULL row is a record without issues, not an error
        assert_eq!(one::<String>("SELECT quality::text FROM cdp.records WHERE source_key = '4'").as_deref(), Some("{}"));
        assert_eq!(
            one::<i64>("SELECT sum(records)::bigint FROM cdp.quality_report WHERE attribute = 'email'"),
            Some(2)
        );
    }

    #[pg_test]
    fn resync_is_idempotent_and_follows_changes() {
        setup_web();
        Spi::run("SELECT cdp.sync_source('public.web')").unwrap();
        let ids_before = one::<String>("SELECT string_agg(record_id::text, ',' ORDER BY source_key) FROM cdp.records");
        let updated_before = one::<String>("SELECT max(updated_at)::text FROM cdp.records");
        assert_eq!(one::<i64>("SELECT cdp.sync_source('public.web')"), Some(4));
        assert_eq!(one::<String>("SELECT string_agg(record_id::text, ',' ORDER BY source_key) FROM cdp.records"), ids_before);
        assert_eq!(one::<i64>("SELECT (last_sync->>'unchanged')::bigint FROM cdp.sources"), Some(4));
        assert_eq!(one::<String>("SELECT max(updated_at)::text FROM cdp.records"), updated_before);

        Spi::run("UPDATE public.web SET gsm = '+44 20 7946 0018' WHERE id = 1; DELETE FROM public.web WHERE id = 4;
                  INSERT INTO public.web VALUES (5, 'new@gmail.com', 'Ali Veli', NULL, NULL, NULL)").unwrap();
        assert_eq!(one::<i64>("SELECT cdp.sync_source('public.web')"), Some(4));
        let stats = one::<pgrx::JsonB>("SELECT last_sync FROM cdp.sources").unwrap().0;
        assert_eq!(stats["inserted"], 1);
        assert_eq!(stats["updated"], 1);
        assert_eq!(stats["deleted"], 1);
        assert_eq!(stats["unchanged"], 2);
        assert_eq!(one::<String>("SELECT phone FROM cdp.records WHERE source_key = '1'").as_deref(), Some("+442079460018"));
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records WHERE source_key = '4'"), Some(0));
    }

    #[pg_test]
    fn changes_are_captured_and_applied_by_process_changes() {
        setup_web();
        Spi::run("SELECT cdp.sync_source('public.web')").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.change_queue"), Some(0));
        Spi::run("INSERT INTO public.web VALUES (6, 'a.b@gmail.com', 'Can Öztürk', '05551234567', NULL, NULL);
                  UPDATE public.web SET id = 7 WHERE id = 2;
                  DELETE FROM public.web WHERE id = 3").unwrap();
        // insert 6; update queues old 2 and new 7; delete 3
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.change_queue"), Some(4));
        assert_eq!(one::<i64>("SELECT cdp.process_changes()"), Some(4));
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.change_queue"), Some(0));
        assert_eq!(
            one::<String>("SELECT string_agg(source_key, ',' ORDER BY source_key) FROM cdp.records").as_deref(),
            Some("1,4,6,7")
        );
        assert_eq!(one::<String>("SELECT last_name FROM cdp.records WHERE source_key = '6'").as_deref(), Some("ozturk"));
    }

    #[pg_test]
    fn truncate_queues_a_full_resync() {
        setup_web();
        Spi::run("SELECT cdp.sync_source('public.web')").unwrap();
        Spi::run("TRUNCATE public.web").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.change_queue WHERE source_key IS NULL"), Some(1));
        Spi::run("SELECT cdp.process_changes()").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records"), Some(0));
    }

    #[pg_test]
    fn null_keys_go_to_quarantine() {
        Spi::run(
            "CREATE TABLE public.shop (code text UNIQUE, first text, last text);
             INSERT INTO public.shop VALUES ('A1', 'Zeynep', 'Kaya'), (NULL, 'Lost', 'Row');
             SELECT cdp.add_source('public.shop', 'code', '{\"first_name\":\"first\",\"last_name\":\"last\"}');",
        )
        .unwrap();
        assert_eq!(one::<i64>("SELECT cdp.sync_source('public.shop')"), Some(1));
        assert_eq!(one::<String>("SELECT attributes->>'first_name' FROM cdp.quarantine WHERE reason = 'null_key'").as_deref(), Some("Lost"));
        // a rerun replaces, not duplicates, the quarantined row
        Spi::run("SELECT cdp.sync_source('public.shop')").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.quarantine"), Some(1));
    }

    #[pg_test]
    fn drop_source_and_dropping_the_table_unregister() {
        setup_web();
        Spi::run("SELECT cdp.sync_source('public.web')").unwrap();
        assert_eq!(one::<bool>("SELECT cdp.drop_source('public.web')"), Some(true));
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records"), Some(0));
        assert_eq!(one::<i64>("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.web'::regclass AND tgname LIKE 'cdp_%'"), Some(0));
        // the table is untouched by drop_source
        assert_eq!(one::<i64>("SELECT count(*) FROM public.web"), Some(4));
        Spi::run("DROP TABLE public.web").unwrap();
        setup_web();
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.sources"), Some(1));
        Spi::run("DROP TABLE public.web").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.sources"), Some(0));
    }

    #[pg_test]
    fn normalise_helper_returns_value_or_reason() {
        Spi::run("SET cdp.default_country = 'DE'").unwrap();
        assert_eq!(one::<String>("SELECT value FROM cdp.normalise('phone', '030 1234567')").as_deref(), Some("+49301234567"));
        assert_eq!(one::<String>("SELECT reason FROM cdp.normalise('email', 'test@test.com')").as_deref(), Some("placeholder"));
        assert_eq!(one::<String>("SELECT value FROM cdp.normalise('last_name', 'ÇAĞRI')").as_deref(), Some("cagri"));
    }

    #[pg_test]
    fn worker_is_registered_when_preloaded() {
        assert_eq!(one::<bool>("SELECT preloaded FROM cdp.worker_status()"), Some(true));
    }

    #[pg_test]
    fn identity_attribute_columns_follow_attr() {
        // the SQL type behind the attribute columns of cdp.records and cdp.profiles lists the
        // attributes the Rust code builds its column lists from, in the same order
        let want: Vec<&str> = crate::normalise::Attr::ALL.iter().map(|a| a.name()).collect();
        let list = want.join(",");
        let ty = one::<String>(
            "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
              WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'cdp.identity_attributes'::regtype) AND attnum > 0",
        );
        assert_eq!(ty.as_deref(), Some(list.as_str()));
        for rel in ["cdp.records", "cdp.profiles"] {
            let got = one::<String>(&format!(
                "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                  WHERE attrelid = '{rel}'::regclass AND attname = ANY (string_to_array('{list}', ','))"
            ));
            assert_eq!(got.as_deref(), Some(list.as_str()), "{rel}");
        }
    }

    #[pg_test]
    fn settings_are_registered_and_prefix_reserved() {
        assert_eq!(one::<String>("SELECT current_setting('cdp.default_country')").as_deref(), Some("TR"));
        assert_eq!(one::<String>("SELECT current_setting('cdp.date_order')").as_deref(), Some("DMY"));
    }

    /// Three channel tables with 4 people: ayse (3 rows: typo, swapped full name), mehmet (2 rows,
    /// one-digit phone typo + same email), two different "elif aydin" with different national ids.
    fn setup_people() {
        Spi::run(
            r#"CREATE TABLE public.w (id int PRIMARY KEY, mail text, name text, gsm text, born text);
               INSERT INTO public.w VALUES
                 (1, 'ayse.yilmaz@gmail.com', 'Ayşe Yılmaz', '0532 123 45 67', '1990-03-17'),
                 (2, 'mehmet.kaya@hotmail.com', 'Mehmet Kaya', '0555 111 22 33', '1985-04-03'),
                 (3, 'elif.aydin@gmail.com', 'Elif Aydın', NULL, '1992-06-15');
               CREATE TABLE public.s (no text PRIMARY KEY, fn text, ln text, gsm text, tckn text, born date);
               INSERT INTO public.s VALUES
                 ('S1', 'AYSE', 'YILMAZ', '0532 123 4567', NULL, '1990-03-17'),
                 ('S2', 'Elif', 'Aydın', '0544 999 88 77', '28461937550', '1992-06-15'),
                 ('S3', 'Elif', 'Aydın', NULL, '12345678950', '1992-06-15');
               CREATE TABLE public.c (id int PRIMARY KEY, caller text, mail text, gsm text);
               INSERT INTO public.c VALUES
                 (1, 'Yılmaz, Ayse', 'ayse.yilmaz@gmail.com', NULL),
                 (2, 'Mehmet Kaya', 'mehmet.kaya@hotmail.com', '0555 111 22 34');
               SELECT cdp.add_source('public.w', 'id', '{"email":"mail","full_name":"name","phone":"gsm","birth_date":"born"}', 'web', 10);
               SELECT cdp.add_source('public.s', 'no', '{"first_name":"fn","last_name":"ln","phone":"gsm","national_id":"tckn","birth_date":"born"}', 'store', 20);
               SELECT cdp.add_source('public.c', 'id', '{"full_name":"caller","email":"mail","phone":"gsm"}', 'call_center', 5);
               SELECT cdp.sync_source('public.w'); SELECT cdp.sync_source('public.s'); SELECT cdp.sync_source('public.c');"#,
        )
        .unwrap();
    }

    /// Change source rows, then apply the captured changes as the worker would.
    fn apply_changes(sql: &str) {
        Spi::run(&format!("{sql}; SELECT cdp.process_changes();")).unwrap();
    }

    /// cdp.explain_match of two records named by (source table, key).
    fn explain(a: (&str, &str), b: (&str, &str)) -> serde_json::Value {
        one::<pgrx::JsonB>(&format!("SELECT cdp.explain_match({}, {})", rid(a.0, a.1), rid(b.0, b.1))).unwrap().0
    }

    fn rid(table: &str, key: &str) -> i64 {
        one::<i64>(&format!(
            "SELECT r.record_id FROM cdp.records r JOIN cdp.sources s USING (source_id)
              WHERE s.source_table = '{table}'::regclass AND r.source_key = '{key}'"
        ))
        .unwrap()
    }

    fn pid(table: &str, key: &str) -> i64 {
        one::<i64>(&format!(
            "SELECT r.profile_id FROM cdp.records r JOIN cdp.sources s USING (source_id)
              WHERE s.source_table = '{table}'::regclass AND r.source_key = '{key}'"
        ))
        .unwrap()
    }

    #[pg_test]
    fn resolve_unifies_people_and_keeps_namesakes_apart() {
        setup_people();
        let summary = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(summary["records"], 8);
        // the web elif (no national id) joins one of them; the other stays apart
        assert_eq!(summary["profiles"], 4, "{summary}");
        // ayse: web 1, store S1, call centre 1
        assert_eq!(pid("public.w", "1"), pid("public.s", "S1"));
        assert_eq!(pid("public.w", "1"), pid("public.c", "1"));
        // mehmet: same email, phone one digit apart
        assert_eq!(pid("public.w", "2"), pid("public.c", "2"));
        // two elif aydin born the same day with different national ids stay apart
        assert_ne!(pid("public.s", "S2"), pid("public.s", "S3"));
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.profiles"), Some(4));
        // golden record: display from the originals, provenance names the record
        let p = pid("public.w", "1");
        assert_eq!(one::<i32>(&format!("SELECT record_count FROM cdp.profiles WHERE profile_id = {p}")), Some(3));
        assert_eq!(one::<i32>(&format!("SELECT source_count FROM cdp.profiles WHERE profile_id = {p}")), Some(3));
        assert_eq!(one::<String>(&format!("SELECT email FROM cdp.profiles WHERE profile_id = {p}")).as_deref(), Some("ayse.yilmaz@gmail.com"));
        let prov = one::<i64>(&format!("SELECT (provenance->>'email')::bigint FROM cdp.profiles WHERE profile_id = {p}")).unwrap();
        assert!([rid("public.w", "1"), rid("public.c", "1")].contains(&prov));
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.profile_members WHERE profile_id = {p}")), Some(3));
    }

    #[pg_test]
    fn resolve_is_stable_and_records_lineage() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        let before = one::<String>("SELECT string_agg(record_id || ':' || profile_id, ',' ORDER BY record_id) FROM cdp.records");
        let again = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(one::<String>("SELECT string_agg(record_id || ':' || profile_id, ',' ORDER BY record_id) FROM cdp.records"), before);
        assert_eq!(again["merges"], 0);
        assert_eq!(again["splits"], 0);
        assert_eq!(again["records_moved"], 0);
        assert_eq!(again["profiles_written"], 0, "unchanged profiles are not rewritten: {again}");
        // nor the keys and edges, which are still all there
        assert_eq!(again["rewritten"]["keys"], false, "{again}");
        assert_eq!(again["rewritten"]["edges"], false, "{again}");
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.record_keys"), again["blocking_keys"].as_i64());
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.match_edges"), again["matched_pairs"].as_i64());
        // a lost table is noticed: the row count no longer agrees, so the next run rewrites it
        Spi::run("TRUNCATE cdp.record_keys").unwrap();
        let repaired = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(repaired["rewritten"]["keys"], true, "{repaired}");
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.record_keys"), again["blocking_keys"].as_i64());

        // split: the store record S1 is declared not ayse; the largest part keeps ayse's id
        let ayse = pid("public.w", "1");
        let added = one::<i32>(&format!("SELECT cdp.force_split({})", rid("public.s", "S1"))).unwrap();
        assert_eq!(added, 2);
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(out["splits"], 1, "{out}");
        assert_eq!(pid("public.w", "1"), ayse);
        assert_ne!(pid("public.s", "S1"), ayse);
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.profile_lineage WHERE kind = 'split' AND old_profile_id = {ayse}")), Some(1));

        // merge: force the two elif aydin together; the oldest id survives
        let (e1, e2) = (pid("public.s", "S2"), pid("public.s", "S3"));
        Spi::run(&format!("SELECT cdp.force_link({}, {})", rid("public.s", "S2"), rid("public.s", "S3"))).unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(out["merges"], 1, "{out}");
        assert_eq!(pid("public.s", "S2"), e1.min(e2));
        assert_eq!(pid("public.s", "S3"), e1.min(e2));
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.profile_lineage WHERE kind = 'merge' AND old_profile_id = {}", e1.max(e2))), Some(1));
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.profiles WHERE profile_id = {}", e1.max(e2))), Some(0));
        // decisions survive further runs
        Spi::run("SELECT cdp.resolve()").unwrap();
        assert_eq!(pid("public.s", "S2"), pid("public.s", "S3"));
        assert_ne!(pid("public.s", "S1"), ayse);
    }

    #[pg_test]
    fn explain_match_and_profile_say_why() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        let m = explain(("public.w", "2"), ("public.c", "2"));
        assert_eq!(m["decision"], "match", "{m}");
        assert_eq!(m["same_profile"], true);
        let fields = m["fields"].as_array().unwrap();
        let email = fields.iter().find(|f| f["field"] == "email").expect("email compared");
        assert_eq!(email["level"], "exact");
        assert!(email["weight"].as_f64().unwrap() > 0.0);
        let n = explain(("public.s", "S2"), ("public.s", "S3"));
        assert_eq!(n["same_profile"], false, "{n}");
        let nid = n["fields"].as_array().unwrap().iter().find(|f| f["field"] == "national_id").expect("national id compared");
        assert!(nid["weight"].as_f64().unwrap() < 0.0, "conflicting national ids are evidence against: {n}");

        let p = one::<pgrx::JsonB>(&format!("SELECT cdp.explain_profile({})", pid("public.w", "1"))).unwrap().0;
        assert_eq!(p["members"].as_array().unwrap().len(), 3);
        let edges = p["edges"].as_array().unwrap();
        assert!(!edges.is_empty());
        // each merge says what its evidence was, level by field
        assert!(edges.iter().any(|e| e["evidence"]["email"] == "exact"), "{p}");
        assert!(edges.iter().all(|e| e["evidence"].as_object().is_some_and(|o| !o.is_empty())), "{p}");
        assert_eq!(p["golden"]["email"], "ayse.yilmaz@gmail.com");
    }

    #[pg_test]
    fn explain_match_weighs_as_the_run_does() {
        // 1200 people with their own e-mail; 300 of them called Mehmet Yılmaz, the rest with names
        // of their own; everybody in the shop with the shop's phone (a hub from 4 records up)
        Spi::run(
            r#"SET cdp.hub_min_records = 4;
               CREATE TABLE public.t (id int PRIMARY KEY, mail text, first text, last text, gsm text);
               INSERT INTO public.t
               SELECT g, 'p' || g || '@example-mail.com',
                      CASE WHEN g <= 300 THEN 'Mehmet' ELSE 'Kişi' END,
                      CASE WHEN g <= 300 THEN 'Yılmaz' ELSE translate(md5(g::text), '0123456789', 'ghijklmnop') END,
                      CASE WHEN g % 100 = 0 THEN '0212 555 01 01' END
                 FROM generate_series(1, 1200) g;
               SELECT cdp.add_source('public.t', 'id', '{"email":"mail","first_name":"first","last_name":"last","phone":"gsm"}');
               SELECT cdp.sync_source('public.t');
               SELECT cdp.resolve();"#,
        )
        .unwrap();
        let explain = |a: &str, b: &str| explain(("public.t", a), ("public.t", b));
        let name_weight = |m: &serde_json::Value| {
            m["fields"].as_array().unwrap().iter().find(|f| f["field"] == "name").expect("name compared")["weight"].as_f64().unwrap()
        };
        // two of the 300 Mehmet Yılmaz: the name weighs as a common name, with the count shown
        let common = explain("1", "2");
        assert_eq!(common["fields"].as_array().unwrap().iter().find(|f| f["field"] == "name").unwrap()["records_with_name"], 300, "{common}");
        // two records of one rare name (a copy of person 1000's row under another key)
        Spi::run("INSERT INTO public.t SELECT 5000, 'other@example-mail.com', first, last, NULL FROM public.t WHERE id = 1000; SELECT cdp.process_changes();").unwrap();
        let rare = explain("1000", "5000");
        assert!(name_weight(&rare) > name_weight(&common) + 3.0, "a rare name weighs more: {rare} / {common}");
        // the shop's phone on records 100 and 200 is a hub: no evidence, and said so
        let shop = explain("100", "200");
        assert!(shop["fields"].as_array().unwrap().iter().all(|f| f["field"] != "phone"), "{shop}");
        assert_eq!(shop["hub_values_ignored"][0]["key"], "phone", "{shop}");
        assert_eq!(shop["hub_values_ignored"][0]["records"], 12, "{shop}");
        assert_eq!(shop["hub_values_ignored"].as_array().unwrap().len(), 1, "only the hubs the pair holds: {shop}");
        // a pair that holds no hub lists none, whatever hubs the database has
        assert_eq!(common["hub_values_ignored"].as_array().unwrap().len(), 0, "{common}");
        assert!(!shop["shared_blocking_keys"].as_array().unwrap().iter().any(|k| k == "phone"), "{shop}");
        assert_eq!(shop["decision"], "no match");
    }

    #[pg_test]
    fn model_is_stored_and_reused() {
        setup_people();
        let first = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.model"), Some(1));
        let second = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(second["model_id"], first["model_id"]);
        assert_eq!(second["model_source"], "given");
        let third = one::<pgrx::JsonB>("SELECT cdp.resolve(reestimate => true)").unwrap().0;
        assert_ne!(third["model_id"], first["model_id"]);
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.model"), Some(2));
    }

    #[pg_test]
    fn junk_rows_do_not_crash_merge_or_hide() {
        // 150 rows of junk: NULL-heavy, empty strings, placeholders shared by all of them,
        // huge strings, control characters, mixed scripts and emoji
        Spi::run(
            r#"CREATE TABLE public.junk (id int PRIMARY KEY, name text, mail text, gsm text, born text);
               INSERT INTO public.junk
               SELECT g,
                      CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'N/A' WHEN 3 THEN repeat('Ω', 5000)
                                 WHEN 4 THEN E'\u0001\u0002 😀 王 Иван' ELSE '   ' END,
                      CASE g % 3 WHEN 0 THEN 'test@test.com' WHEN 1 THEN '' ELSE NULL END,
                      CASE g % 2 WHEN 0 THEN '0000000000' ELSE 'n/a' END,
                      CASE g % 4 WHEN 0 THEN '30.02.1990' WHEN 1 THEN '0000-00-00' WHEN 2 THEN '' ELSE NULL END
                 FROM generate_series(1, 150) g;
               SELECT cdp.add_source('public.junk', 'id', '{"full_name":"name","email":"mail","phone":"gsm","birth_date":"born"}');
               SELECT cdp.sync_source('public.junk');"#,
        )
        .unwrap();
        let summary = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(summary["records"], 150);
        // nothing usable is shared, so nothing is merged: one profile per row
        assert_eq!(summary["profiles"], 150, "{summary}");
        assert_eq!(summary["matched_pairs"], 0, "{summary}");
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.hubs"), Some(0));
        // every problem is visible
        assert_eq!(one::<i64>("SELECT sum(records)::bigint FROM cdp.quality_report WHERE attribute = 'email' AND reason = 'placeholder'"), Some(50));
        assert_eq!(one::<i64>("SELECT sum(records)::bigint FROM cdp.quality_report WHERE attribute = 'phone' AND reason = 'placeholder'"), Some(150));
        assert_eq!(one::<i64>("SELECT sum(records)::bigint FROM cdp.quality_report WHERE attribute = 'full_name' AND reason = 'too_long'"), Some(25));
        assert_eq!(one::<i64>("SELECT sum(records)::bigint FROM cdp.quality_report WHERE attribute = 'birth_date' AND reason = 'impossible_date'"), Some(37));
        // the same junk arriving later goes through the incremental path just as well
        Spi::run(
            r#"INSERT INTO public.junk SELECT id + 1000, name, mail, gsm, born FROM public.junk;
               UPDATE public.junk SET name = repeat('ß', 3000) WHERE id = 7;
               SELECT cdp.process_changes();"#,
        )
        .unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["pending"], 151, "{out}");
        assert_eq!(out["matched_pairs"], 0, "{out}");
        assert_eq!(one::<i64>("SELECT count(DISTINCT profile_id) FROM cdp.records"), Some(300));
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records WHERE profile_id IS NULL OR resolve_pending"), Some(0));
    }

    #[pg_test]
    fn survivorship_rules_are_configurable() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        let mehmet = pid("public.w", "2");
        // default for phone: most recent; both records are equally recent, the web source has
        // the higher priority: its number wins
        assert_eq!(one::<String>(&format!("SELECT phone FROM cdp.profiles WHERE profile_id = {mehmet}")).as_deref(), Some("+905551112233"));
        assert_eq!(one::<String>("SELECT rule FROM cdp.survivorship_rules WHERE attribute = 'phone'").as_deref(), Some("most_recent"));
        // the call centre becomes the most trusted source and phone follows source priority
        Spi::run("UPDATE cdp.sources SET priority = 50 WHERE channel = 'call_center'").unwrap();
        assert_eq!(one::<bool>("SELECT cdp.set_survivorship('phone', 'source_priority')"), Some(true));
        assert_eq!(one::<bool>("SELECT is_default FROM cdp.survivorship_rules WHERE attribute = 'phone'"), Some(false));
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert!(out["profiles_written"].as_i64().unwrap() >= 1, "{out}");
        assert_eq!(one::<String>(&format!("SELECT phone FROM cdp.profiles WHERE profile_id = {mehmet}")).as_deref(), Some("+905551112234"));
        // NULL goes back to the default
        Spi::run("SELECT cdp.set_survivorship('phone', NULL)").unwrap();
        assert_eq!(one::<bool>("SELECT is_default FROM cdp.survivorship_rules WHERE attribute = 'phone'"), Some(true));
    }

    #[pg_test]
    fn data_changes_merge_and_split_with_lineage() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        // data change → move: call centre 2 (mehmet's) is corrected to ayse's name and e-mail:
        // it leaves mehmet's profile for ayse's, both ids stay
        let ayse = pid("public.w", "1");
        let mehmet = pid("public.w", "2");
        apply_changes("UPDATE public.c SET caller = 'Ayşe Yılmaz', mail = 'ayse.yilmaz@gmail.com', gsm = NULL WHERE id = 2");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(pid("public.c", "2"), ayse, "{out}");
        assert_eq!(pid("public.w", "2"), mehmet, "mehmet keeps his id");
        assert_eq!(out["records_moved"], 1, "{out}");
        // changed data: its keys and edges are rewritten, and the two profiles it touched
        assert_eq!(out["rewritten"]["keys"], true, "{out}");
        assert_eq!(out["rewritten"]["edges"], true, "{out}");
        assert_eq!(out["profiles_written"], 2, "{out}");
        assert_eq!(one::<i64>(&format!("SELECT record_count FROM cdp.profiles WHERE profile_id = {ayse}")), Some(4));
        // data change → split: ayse's web row changes to another person entirely. It was the
        // bridge to the store row (same phone and birth date); the two call-centre rows (same
        // e-mail) are the largest part and keep the id, the store row and the web row get new
        // ones: two split events
        apply_changes("UPDATE public.w SET mail = 'zeynep.kaya@outlook.com', name = 'Zeynep Kaya', gsm = '0555 999 88 77', born = '2001-01-01' WHERE id = 1");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(out["splits"], 2, "{out}");
        assert_eq!(pid("public.c", "1"), ayse);
        assert_eq!(pid("public.c", "2"), ayse);
        assert_ne!(pid("public.s", "S1"), ayse);
        assert_ne!(pid("public.w", "1"), ayse);
        assert_ne!(pid("public.w", "1"), pid("public.s", "S1"));
        assert_eq!(
            one::<i64>(&format!("SELECT count(*) FROM cdp.profile_lineage WHERE kind = 'split' AND old_profile_id = {ayse}")),
            Some(2)
        );
        // a deleted source row leaves its profile; a profile with no record left disappears
        let zeynep = pid("public.w", "1");
        apply_changes("DELETE FROM public.w WHERE id = 1");
        Spi::run("SELECT cdp.resolve()").unwrap();
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.profiles WHERE profile_id = {zeynep}")), Some(0));
    }
    /// Memberships and golden records as text, to compare two states.
    fn resolved_state() -> (String, String) {
        (
            one::<String>("SELECT string_agg(record_id || ':' || profile_id, ',' ORDER BY record_id) FROM cdp.records").unwrap(),
            one::<String>("SELECT string_agg(profile_id || ':' || content_hash, ',' ORDER BY profile_id) FROM cdp.profiles").unwrap(),
        )
    }

    /// A full run over the same data (same stored model) must find exactly what the incremental
    /// runs left: nothing moves, no golden record changes.
    fn assert_full_run_agrees() {
        let before = resolved_state();
        let full = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(full["records_moved"], 0, "{full}");
        assert_eq!(full["profiles_written"], 0, "{full}");
        assert_eq!(full["profiles_deleted"], 0, "{full}");
        assert_eq!(resolved_state(), before);
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records WHERE resolve_pending OR profile_id IS NULL"), Some(0));
    }

    /// The keys and edges a full run writes, as text.
    fn keys_and_edges() -> (String, String) {
        (
            one::<String>("SELECT string_agg(key_hash || ':' || record_id, ',' ORDER BY key_hash, record_id) FROM cdp.record_keys").unwrap(),
            one::<String>(
                "SELECT string_agg(record_a || ':' || record_b || ':' || weight || ':' || levels::text, ',' ORDER BY record_a, record_b)
                   FROM cdp.match_edges",
            )
            .unwrap(),
        )
    }

    /// A full run appends its keys and edges as COPY does where their tables are as the
    /// extension made them, and inserts them with SQL otherwise: past anything a DBA may add
    /// that an INSERT obeys (a check constraint, an index, a trigger, a rule, row security).
    /// Each way writes the same rows.
    #[pg_test]
    fn keys_and_edges_appended_equal_those_inserted_with_sql() {
        use crate::api::resolve::append::APPENDED;
        use std::sync::atomic::Ordering::Relaxed;
        setup_people();
        let before = APPENDED.load(Relaxed);
        Spi::run("SELECT cdp.resolve()").unwrap();
        let appended = APPENDED.load(Relaxed) - before;
        let keys = one::<i64>("SELECT count(*) FROM cdp.record_keys").unwrap();
        let edges = one::<i64>("SELECT count(*) FROM cdp.match_edges").unwrap();
        assert!(keys > 0 && edges > 0, "{keys} keys, {edges} edges");
        assert_eq!(appended as i64, keys + edges, "every key and edge appended");
        let fast = keys_and_edges();
        Spi::run("CREATE FUNCTION public.dba_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$").unwrap();
        // what a DBA adds to a table, and what takes it away. A trigger and a rule leave their
        // flag in pg_class set until a VACUUM: they come last, one on each table
        const KEYS: &str = "cdp.record_keys";
        const EDGES: &str = "cdp.match_edges";
        let cases: [&[(&str, &str, &str)]; 4] = [
            &[
                (KEYS, "ALTER TABLE {t} ADD CONSTRAINT dba_check CHECK (record_id > 0)", "ALTER TABLE {t} DROP CONSTRAINT dba_check"),
                (EDGES, "ALTER TABLE {t} ADD CONSTRAINT dba_check CHECK (record_a > 0)", "ALTER TABLE {t} DROP CONSTRAINT dba_check"),
            ],
            &[
                (KEYS, "CREATE INDEX dba_keys_idx ON {t} (record_id)", "DROP INDEX cdp.dba_keys_idx"),
                (EDGES, "CREATE INDEX dba_edges_idx ON {t} (weight)", "DROP INDEX cdp.dba_edges_idx"),
            ],
            &[
                (KEYS, "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY", "ALTER TABLE {t} DISABLE ROW LEVEL SECURITY"),
                (EDGES, "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY", "ALTER TABLE {t} DISABLE ROW LEVEL SECURITY"),
            ],
            &[
                (KEYS, "CREATE TRIGGER dba_trg BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION public.dba_noop()", "DROP TRIGGER dba_trg ON {t}"),
                (EDGES, "CREATE RULE dba_rule AS ON INSERT TO {t} DO ALSO NOTIFY dba", "DROP RULE dba_rule ON {t}"),
            ],
        ];
        for case in cases {
            for (t, add, _) in case {
                Spi::run(&add.replace("{t}", t)).unwrap();
            }
            // forget the digests, so that the run writes both tables again
            Spi::run("DELETE FROM cdp.resolve_state").unwrap();
            let before = APPENDED.load(Relaxed);
            let run = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
            let what = case[0].1;
            assert_eq!(run["rewritten"]["keys"], true, "{what}: {run}");
            assert_eq!(run["rewritten"]["edges"], true, "{what}: {run}");
            assert_eq!(APPENDED.load(Relaxed), before, "nothing appended past: {case:?}");
            assert_eq!(keys_and_edges(), fast, "{what}");
            for (t, _, undo) in case {
                Spi::run(&undo.replace("{t}", t)).unwrap();
            }
        }
    }

    #[pg_test]
    fn resolve_changes_rematches_only_what_changed_as_a_full_run_would() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        let idle = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(idle["pending"], 0, "{idle}");
        let ayse = pid("public.w", "1");
        let mehmet = pid("public.w", "2");
        let untouched = one::<String>(&format!("SELECT updated_at::text FROM cdp.profiles WHERE profile_id = {}", pid("public.s", "S3")));

        // a record moves from mehmet to ayse; only their two profiles are loaded and rewritten
        apply_changes("UPDATE public.c SET caller = 'Ayşe Yılmaz', mail = 'ayse.yilmaz@gmail.com', gsm = NULL WHERE id = 2");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["mode"], "incremental");
        assert_eq!(out["pending"], 1, "{out}");
        assert_eq!(out["records"], 5, "ayse's 3 records, mehmet's 2: {out}");
        assert_eq!(out["records_moved"], 1, "{out}");
        assert_eq!(out["profiles_written"], 2, "{out}");
        assert_eq!(pid("public.c", "2"), ayse);
        assert_eq!(pid("public.w", "2"), mehmet);
        assert_eq!(one::<String>(&format!("SELECT updated_at::text FROM cdp.profiles WHERE profile_id = {}", pid("public.s", "S3"))), untouched);
        assert_eq!(
            one::<i64>(&format!("SELECT count(*) FROM cdp.record_keys WHERE record_id = {}", rid("public.c", "2"))),
            one::<i64>(&format!("SELECT count(*) FROM cdp.blocking_keys({})", rid("public.c", "2"))),
            "the changed record's keys are replaced"
        );
        assert_full_run_agrees();

        // a new record joins mehmet through index look-ups of its keys
        apply_changes("INSERT INTO public.w VALUES (4, 'mehmet.kaya@hotmail.com', 'Mehmet Kaya', NULL, '1985-04-03')");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(pid("public.w", "4"), mehmet, "{out}");
        assert_eq!(out["new_profiles"], 0, "{out}");
        assert!(out["matched_pairs"].as_i64().unwrap() >= 1, "{out}");
        assert_full_run_agrees();

        // a family member with ayse's mobile: the phone is now shared by two people, so the
        // pairs of ayse's records that share it are scored again (their stored edges replaced)
        apply_changes("INSERT INTO public.w VALUES (7, 'kemal.yilmaz@gmail.com', 'Kemal Yılmaz', '0532 123 45 67', '1960-08-30')");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_ne!(pid("public.w", "7"), ayse, "{out}");
        assert_eq!(pid("public.s", "S1"), ayse, "{out}");
        assert_full_run_agrees();

        // split: ayse's web row becomes someone else; the largest part keeps the id
        apply_changes("UPDATE public.w SET mail = 'zeynep.kaya@outlook.com', name = 'Zeynep Kaya', gsm = '0555 999 88 77', born = '2001-01-01' WHERE id = 1");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["splits"], 2, "{out}");
        assert_eq!(pid("public.c", "1"), ayse);
        assert_ne!(pid("public.w", "1"), ayse);
        assert_ne!(pid("public.s", "S1"), ayse);
        assert_eq!(
            one::<i64>(&format!("SELECT count(*) FROM cdp.profile_lineage WHERE kind = 'split' AND old_profile_id = {ayse}")),
            Some(2)
        );
        assert_full_run_agrees();

        // a deleted source row: its profile is re-checked and, left empty, removed
        let zeynep = pid("public.w", "1");
        let gone = rid("public.w", "1");
        apply_changes("DELETE FROM public.w WHERE id = 1");
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.resolve_gone"), Some(1));
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["profiles_rechecked"], 1, "{out}");
        assert_eq!(out["profiles_deleted"], 1, "{out}");
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.profiles WHERE profile_id = {zeynep}")), Some(0));
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.resolve_gone"), Some(0));
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.record_keys WHERE record_id = {gone}")), Some(0));
        assert_full_run_agrees();

        // at most max_records a run; the rest stays pending for the next
        apply_changes("INSERT INTO public.w VALUES (5, 'a@b.example', 'Can Demir', NULL, NULL), (6, 'c@d.example', 'Ece Tan', NULL, NULL)");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes(1)").unwrap().0;
        assert_eq!(out["more_pending"], true, "{out}");
        assert_eq!(one::<i64>("SELECT count(*) FROM cdp.records WHERE resolve_pending OR profile_id IS NULL"), Some(1));
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes(1)").unwrap().0;
        assert_eq!(out["pending"], 1, "{out}");
        assert_full_run_agrees();
    }
    #[pg_test]
    fn resolve_changes_splits_a_profile_whose_bridge_record_is_deleted() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        let ayse = pid("public.w", "1");
        assert_eq!(pid("public.s", "S1"), ayse);
        assert_eq!(pid("public.c", "1"), ayse);
        // web 1 is what ties the store row (phone, birth date) to the call-centre row (e-mail)
        let bridge = rid("public.w", "1");
        apply_changes("DELETE FROM public.w WHERE id = 1");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["pending"], 0, "{out}");
        assert_eq!(out["splits"], 1, "{out}");
        assert_ne!(pid("public.s", "S1"), pid("public.c", "1"), "{out}");
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM cdp.match_edges WHERE {bridge} IN (record_a, record_b)")), Some(0));
        assert_full_run_agrees();
    }
    #[pg_test]
    fn resolve_changes_holds_stored_edges_to_the_current_threshold() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        assert_eq!(pid("public.w", "2"), pid("public.c", "2"), "mehmet: same e-mail");
        // a threshold no pair reaches, then a change to one of mehmet's rows: the edge between
        // his two records is stored, but below the threshold in force it no longer joins them
        apply_changes("SET cdp.match_threshold = 99;
                  UPDATE public.c SET caller = 'MEHMET KAYA' WHERE id = 2");
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["pending"], 1, "{out}");
        assert_eq!(out["splits"], 1, "{out}");
        assert_ne!(pid("public.w", "2"), pid("public.c", "2"), "{out}");
    }
    #[pg_test]
    fn resolve_changes_applies_steward_decisions() {
        setup_people();
        Spi::run("SELECT cdp.resolve()").unwrap();
        let (s2, s3) = (rid("public.s", "S2"), rid("public.s", "S3"));
        assert_ne!(pid("public.s", "S2"), pid("public.s", "S3"));
        // force_link marks both records pending: an incremental run merges their profiles
        Spi::run(&format!("SELECT cdp.force_link({s2}, {s3})")).unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["pending"], 2, "{out}");
        assert_eq!(out["merges"], 1, "{out}");
        assert_eq!(pid("public.s", "S2"), pid("public.s", "S3"));
        assert_full_run_agrees();
        // force_split marks the record pending: the next incremental run takes it out again
        Spi::run(&format!("SELECT cdp.force_split({s3})")).unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve_changes()").unwrap().0;
        assert_eq!(out["splits"], 1, "{out}");
        assert_ne!(pid("public.s", "S2"), pid("public.s", "S3"));
        assert_full_run_agrees();
    }

    /// Registry-style rows: three copies of one person whose hand-typed national ids all
    /// differ, and a namesake born elsewhere and on another day.
    fn setup_registry() {
        Spi::run(
            "CREATE TABLE public.reg (id int PRIMARY KEY, given text, family text, born text, street text, pc text, suburb text, nid text);
             INSERT INTO public.reg VALUES
               (1, 'Margaret', 'Thompson', '14/07/1952', '14 Wattle Street', '3121', 'Richmond', '4412907'),
               (2, 'Margaret', 'Thompson', '14/07/1952', '14 Wattle St', '3121', 'Richmond', '8830561'),
               (3, 'Margaret', 'Thompson', '14/07/1952', '14 Wattle Street', '3121', 'Richmond', '2290478'),
               (4, 'Margaret', 'Thompson', '03/02/1988', '2 Ocean Parade', '2034', 'Coogee', '5521093');
             SELECT cdp.add_source('public.reg', 'id', '{\"first_name\":\"given\",\"last_name\":\"family\",\"birth_date\":\"born\",
                \"street\":\"street\",\"postcode\":\"pc\",\"city\":\"suburb\",\"national_id\":\"nid\"}');
             SELECT cdp.sync_source('public.reg');",
        )
        .unwrap();
    }

    #[pg_test]
    fn national_id_trust_decides_whether_a_conflict_keeps_records_apart() {
        setup_registry();
        Spi::run("SET cdp.national_id_trust = 'veto'").unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(out["national_id_trusted"], true, "{out}");
        assert!(out["rejected"]["id_conflict"].as_u64().unwrap_or(0) >= 2, "{out}");
        assert_eq!(one::<i64>("SELECT count(DISTINCT profile_id) FROM cdp.records"), Some(4));
        // the conflict as evidence (the choice is made when a model is fitted)
        Spi::run("SET cdp.national_id_trust = 'evidence'").unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve(reestimate => true)").unwrap().0;
        assert_eq!(out["national_id_trusted"], false, "{out}");
        assert_eq!(out["rejected"]["id_conflict"], 0, "{out}");
        assert_eq!(pid("public.reg", "1"), pid("public.reg", "2"));
        assert_eq!(pid("public.reg", "1"), pid("public.reg", "3"));
        assert_ne!(pid("public.reg", "1"), pid("public.reg", "4"), "the namesake stays apart");
        // the stored model says why, and keeps the decision for incremental runs
        assert_eq!(one::<bool>("SELECT (params->>'national_id_trusted')::boolean FROM cdp.model ORDER BY model_id DESC LIMIT 1"), Some(false));
        let e = explain(("public.reg", "1"), ("public.reg", "2"));
        assert_eq!(e["decision"], "match", "{e}");
    }

    #[pg_test]
    fn name_frequency_counts_people_not_one_persons_duplicates() {
        // one person with five records (same name and birth date), five namesakes (one record
        // each, different birth dates), among 1,200 other people
        Spi::run(
            "CREATE TABLE public.people (id int PRIMARY KEY, given text, family text, born date);
             INSERT INTO public.people SELECT g, 'Zeynep', 'Kocabıyık', DATE '1985-03-01' FROM generate_series(1, 5) g;
             INSERT INTO public.people SELECT 10 + g, 'Ayşe', 'Demir', DATE '1970-01-01' + 400 * g FROM generate_series(1, 5) g;
             INSERT INTO public.people SELECT 100 + g, translate(md5(g::text), '0123456789', 'ghijklmnop'),
                    translate(md5('x' || g), '0123456789', 'ghijklmnop'), DATE '1960-01-01' + g FROM generate_series(1, 1200) g;
             SELECT cdp.add_source('public.people', 'id', '{\"first_name\":\"given\",\"last_name\":\"family\",\"birth_date\":\"born\"}');
             SELECT cdp.sync_source('public.people');
             SELECT cdp.resolve();",
        )
        .unwrap();
        let name_of = |e: &serde_json::Value| e["fields"].as_array().unwrap().iter().find(|f| f["field"] == "name").cloned().unwrap();
        let own = name_of(&explain(("public.people", "1"), ("public.people", "2")));
        let shared = name_of(&explain(("public.people", "11"), ("public.people", "12")));
        assert_eq!(own["records_with_name"], 1, "one person's five records count once: {own}");
        assert_eq!(shared["records_with_name"], 5, "five people: {shared}");
        let (a, b) = (own["name_frequency_adjustment"].as_f64().unwrap(), shared["name_frequency_adjustment"].as_f64().unwrap());
        assert!((a - b - 5f64.log2()).abs() < 0.05, "a name held by five people weighs log2(5) bits less: {a} vs {b}");
        assert_eq!(one::<i64>("SELECT count(DISTINCT profile_id) FROM cdp.records WHERE source_key::int <= 5"), Some(1));
    }

    #[pg_test]
    fn the_review_queue_lists_uncertain_pairs_and_decisions_take_them_out() {
        Spi::run(
            "CREATE TABLE public.rq (id int PRIMARY KEY, given text, family text, born text, street text, pc text, suburb text, mail text, nid text);
             INSERT INTO public.rq VALUES
               -- accepted a little above the threshold: a misspelt name and the same address
               (1, 'Margaret', 'Thompson', '14/07/1952', '14 Wattle Street', '3121', 'Richmond', 'mthompson@example-mail.com', NULL),
               (2, 'Margret', 'Thomson', NULL, '14 Wattle Street', '3121', 'Richmond', NULL, NULL),
               -- rejected a little below it: the name and the postcode only
               (3, 'Margaret', 'Thompson', NULL, '99 Other Road', '3121', 'Richmond', NULL, NULL),
               -- one e-mail, two different national ids: accepted, kept apart by the id guard
               (4, 'Peter', 'Jones', '01/01/1970', NULL, NULL, 'Carlton', 'pj@example-mail.com', '4412907'),
               (5, 'Peter', 'Jones', '01/01/1970', NULL, NULL, 'Carlton', 'pj@example-mail.com', '8830561');
             SELECT cdp.add_source('public.rq', 'id', '{\"first_name\":\"given\",\"last_name\":\"family\",\"birth_date\":\"born\",
                \"street\":\"street\",\"postcode\":\"pc\",\"city\":\"suburb\",\"email\":\"mail\",\"national_id\":\"nid\"}');
             SELECT cdp.sync_source('public.rq');
             SELECT cdp.resolve();",
        )
        .unwrap();
        let (r1, r2, r3, r4, r5) = (rid("public.rq", "1"), rid("public.rq", "2"), rid("public.rq", "3"), rid("public.rq", "4"), rid("public.rq", "5"));
        let queue = || -> Vec<(i64, i64, String)> {
            Spi::connect(|c| {
                c.select("SELECT record_a, record_b, reason FROM cdp.review_queue()", None, &[])
                    .unwrap()
                    .map(|r| {
                        let (a, b): (i64, i64) = (r.get(1).unwrap().unwrap(), r.get(2).unwrap().unwrap());
                        (a.min(b), a.max(b), r.get::<String>(3).unwrap().unwrap())
                    })
                    .collect()
            })
        };
        let pair = |a: i64, b: i64| (a.min(b), a.max(b));
        let q = queue();
        let has = |q: &[(i64, i64, String)], p: (i64, i64), why: &str| q.iter().any(|x| (x.0, x.1) == p && x.2 == why);
        // the guard's refusal comes first, then the pairs by their distance from the threshold
        assert_eq!(q.first().map(|x| (x.0, x.1, x.2.as_str())), Some((r4.min(r5), r4.max(r5), "kept_apart_by_a_guard")), "{q:?}");
        assert!(has(&q, pair(r1, r2), "accepted_near_threshold"), "{q:?}");
        assert!(has(&q, pair(r1, r3), "rejected_near_threshold"), "{q:?}");
        // every listed pair is within 4 bits of the threshold, or kept apart by a guard
        assert_eq!(
            one::<i64>("SELECT count(*) FROM cdp.review_queue() WHERE abs(margin) >= 4 AND reason <> 'kept_apart_by_a_guard'"),
            Some(0)
        );
        let ev = one::<pgrx::JsonB>(&format!("SELECT evidence FROM cdp.review_queue() WHERE least(record_a, record_b) = {}", r1.min(r3))).unwrap().0;
        assert!(ev.get("name").is_some(), "the evidence names the fields: {ev}");
        // the steward decides: not the same person, the same person
        Spi::run(&format!("SELECT cdp.cannot_link({r1}, {r2}); SELECT cdp.force_link({r3}, {r1})")).unwrap();
        let q = queue();
        assert!(!q.iter().any(|x| (x.0, x.1) == pair(r1, r2) || (x.0, x.1) == pair(r1, r3)), "decided pairs leave the queue: {q:?}");
        Spi::run("SELECT cdp.resolve_changes()").unwrap();
        assert_ne!(pid("public.rq", "1"), pid("public.rq", "2"), "cannot_link keeps them apart");
        assert_eq!(pid("public.rq", "1"), pid("public.rq", "3"), "force_link joins them");
        // a later decision on the pair replaces the earlier one
        Spi::run(&format!("SELECT cdp.force_link({r1}, {r2})")).unwrap();
        assert_eq!(
            one::<String>(&format!("SELECT string_agg(kind, ',') FROM cdp.manual_link_records WHERE record_a = {} AND record_b = {}", r1.min(r2), r1.max(r2))).as_deref(),
            Some("force_link")
        );
        Spi::run("SELECT cdp.resolve_changes()").unwrap();
        assert_eq!(pid("public.rq", "1"), pid("public.rq", "2"));
    }

    #[pg_test]
    fn two_namesakes_bridged_by_a_sparse_record_stay_two_profiles() {
        // two women named Ayşe Kaya, born 1985 and 1990, two records each; a fifth record without
        // a birth date carries the first one's phone and the second one's e-mail
        Spi::run(
            "CREATE TABLE public.ns (id int PRIMARY KEY, name text, born text, mail text, gsm text);
             INSERT INTO public.ns VALUES
               (1, 'Ayşe Kaya', '01.03.1985', 'ayse.k85@example-mail.com', '0532 111 2233'),
               (2, 'Ayşe Kaya', '01.03.1985', 'ayse.k85@example-mail.com', NULL),
               (3, 'Ayşe Kaya', '12.07.1990', 'aysekaya90@example-mail.com', '0533 444 5566'),
               (4, 'Ayşe Kaya', '12.07.1990', 'aysekaya90@example-mail.com', NULL),
               (5, 'Ayşe Kaya', NULL, 'aysekaya90@example-mail.com', '0532 111 2233');
             SELECT cdp.add_source('public.ns', 'id', '{\"full_name\":\"name\",\"birth_date\":\"born\",\"email\":\"mail\",\"phone\":\"gsm\"}');
             SELECT cdp.sync_source('public.ns');",
        )
        .unwrap();
        let out = one::<pgrx::JsonB>("SELECT cdp.resolve()").unwrap().0;
        assert_eq!(out["rejected"]["birth_date_conflict"], 1, "{out}");
        assert_eq!(pid("public.ns", "1"), pid("public.ns", "2"));
        assert_eq!(pid("public.ns", "3"), pid("public.ns", "4"));
        assert_ne!(pid("public.ns", "1"), pid("public.ns", "3"), "the chain is cut: {out}");
        // the refused bridge is the first thing a steward is shown
        assert_eq!(one::<String>("SELECT reason FROM cdp.review_queue() LIMIT 1").as_deref(), Some("kept_apart_by_a_guard"));
        // the incremental path keeps them apart too
        Spi::run("UPDATE public.ns SET gsm = '0532 111 2233' WHERE id = 4").unwrap();
        Spi::run("SELECT cdp.process_changes(); SELECT cdp.resolve_changes()").unwrap();
        assert_ne!(pid("public.ns", "1"), pid("public.ns", "3"));
    }
}
