//! Every `cdp.*` setting, defined in one place. The prefix `cdp` is reserved, so a typo such as
//! `SET cdp.default_contry = 'DE'` is an error instead of a silently ignored placeholder.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DateOrderGuc {
    #[name = c"DMY"]
    Dmy,
    #[name = c"MDY"]
    Mdy,
}

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TrustGuc {
    #[name = c"auto"]
    Auto,
    #[name = c"veto"]
    Veto,
    #[name = c"evidence"]
    Evidence,
}

pub static NATIONAL_ID_TRUST: GucSetting<TrustGuc> = GucSetting::<TrustGuc>::new(TrustGuc::Auto);
pub static THRESHOLD_FROM_LABELS: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static DEFAULT_COUNTRY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"TR"));
pub static DATE_ORDER: GucSetting<DateOrderGuc> = GucSetting::<DateOrderGuc>::new(DateOrderGuc::Dmy);
pub static MAX_VALUE_LENGTH: GucSetting<i32> = GucSetting::<i32>::new(200);
pub static WORKER_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static WORKER_RESOLVE: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static WORKER_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static WORKER_NAPTIME_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);
pub static MATCH_THRESHOLD: GucSetting<f64> = GucSetting::<f64>::new(crate::resolve::DEFAULT_THRESHOLD);
pub static MATCH_PROBABILITY: GucSetting<f64> = GucSetting::<f64>::new(crate::resolve::model::DEFAULT_MATCH_PROBABILITY);
pub static MAX_BLOCK_SIZE: GucSetting<i32> = GucSetting::<i32>::new(crate::resolve::DEFAULT_MAX_BLOCK as i32);
pub static MAX_PROFILE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(crate::resolve::DEFAULT_MAX_PROFILE_SIZE as i32);
pub static HUB_MIN_RECORDS: GucSetting<i32> = GucSetting::<i32>::new(crate::resolve::DEFAULT_HUB_MIN_COUNT as i32);
pub static RESOLVE_THREADS: GucSetting<i32> = GucSetting::<i32>::new(crate::resolve::DEFAULT_THREADS as i32);
pub static WORKER_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(10000);
pub static MAX_APPLY_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(3);
pub static QUARANTINE_RETENTION_MIN: GucSetting<i32> = GucSetting::<i32>::new(30 * 24 * 60);
pub static SEGMENT_EVENT_RETENTION_MIN: GucSetting<i32> = GucSetting::<i32>::new(7 * 24 * 60);
pub static AUDIT_RETENTION_MIN: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static SEGMENT_CLOCK_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(30);
pub static SEGMENT_DUE_HORIZON_S: GucSetting<i32> = GucSetting::<i32>::new(86_400);
pub static CLOCK_OFFSET: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"0"));
pub static RFM_RECENCY_THRESHOLDS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
pub static RFM_FREQUENCY_THRESHOLDS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
pub static RFM_MONETARY_THRESHOLDS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// The three fixed-threshold settings of RFM scoring: (setting, value, higher is better).
pub type RfmThresholdSetting = (&'static str, &'static GucSetting<Option<CString>>, bool);
pub const RFM_THRESHOLD_SETTINGS: [RfmThresholdSetting; 3] = [
    ("cdp.rfm_recency_thresholds", &RFM_RECENCY_THRESHOLDS, false),
    ("cdp.rfm_frequency_thresholds", &RFM_FREQUENCY_THRESHOLDS, true),
    ("cdp.rfm_monetary_thresholds", &RFM_MONETARY_THRESHOLDS, true),
];

/// Register all settings. Called from `_PG_init`, preloaded or not.
pub fn init() {
    GucRegistry::define_string_guc(
        c"cdp.default_country",
        c"ISO 3166-1 alpha-2 country for phone numbers without a country code (e.g. TR, DE, US).",
        c"Also decides national-id validation (TR: T.C. Kimlik No checksum).",
        &DEFAULT_COUNTRY,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"cdp.date_order",
        c"How to read ambiguous dates such as 03/04/1990: DMY or MDY.",
        c"An unambiguous date is read correctly either way.",
        &DATE_ORDER,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.max_value_length",
        c"Raw attribute values longer than this many characters are flagged too_long and not used.",
        c"",
        &MAX_VALUE_LENGTH,
        8,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"cdp.worker_enabled",
        c"Whether the pg_cdp background worker applies captured source changes.",
        c"Needs shared_preload_libraries = 'pg_cdp'.",
        &WORKER_ENABLED,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"cdp.worker_resolve",
        c"Whether the pg_cdp background worker also resolves changed records (cdp.resolve_changes).",
        c"Only once a first cdp.resolve() has stored a model; batches of cdp.worker_batch_size records.",
        &WORKER_RESOLVE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"cdp.database",
        c"Database in which the pg_cdp background worker runs.",
        c"The extension must be created in this database. Needs a server restart.",
        &WORKER_DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.worker_naptime",
        c"Milliseconds the background worker sleeps between polls of cdp.change_queue.",
        c"",
        &WORKER_NAPTIME_MS,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"cdp.max_apply_attempts",
        c"Times a captured change that fails for a non-transient reason is tried before it is kept in cdp.quarantine.",
        c"Transient failures (deadlocks, lock and statement timeouts, serialization failures) are retried without limit.",
        &MAX_APPLY_ATTEMPTS,
        1,
        100,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.quarantine_retention",
        c"How long rows stay in cdp.quarantine before cdp.process_changes (the worker) deletes them; 0 keeps them.",
        c"",
        &QUARANTINE_RETENTION_MIN,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MIN,
    );
    GucRegistry::define_int_guc(
        c"cdp.segment_due_horizon",
        c"How far ahead the worker computes when the rules that read the clock change their mind.",
        c"Each profile's next change within the horizon is stored in cdp.segment_due and applied when due; at the horizon the rule is evaluated whole again.",
        &SEGMENT_DUE_HORIZON_S,
        600,
        2_592_000,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"cdp.segment_clock_interval",
        c"How often the worker retries a whole segment whose evaluation failed.",
        c"A segment whose last evaluation failed (failed_sqlstate) is retried whole at this interval.",
        &SEGMENT_CLOCK_INTERVAL_S,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"cdp.clock_offset",
        c"An interval added to now() in segment rules: tests and what-ifs of time-based rules.",
        c"'0' in production. Segment rules read now() + cdp.clock_offset.",
        &CLOCK_OFFSET,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.segment_event_retention",
        c"How long rows stay in cdp.segment_events before the worker deletes them; 0 keeps them.",
        c"A consumer asking for events older than what was deleted gets SQLSTATE 55000.",
        &SEGMENT_EVENT_RETENTION_MIN,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MIN,
    );
    GucRegistry::define_int_guc(
        c"cdp.audit_retention",
        c"How long rows stay in cdp.audit_log before the worker deletes them; 0 (the default) keeps them.",
        c"Set it in postgresql.conf to what your audit policy requires; nothing else deletes audit rows.",
        &AUDIT_RETENTION_MIN,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MIN,
    );
    GucRegistry::define_int_guc(
        c"cdp.worker_batch_size",
        c"Most captured changes the background worker applies in one transaction.",
        c"",
        &WORKER_BATCH_SIZE,
        1,
        1_000_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"cdp.match_threshold",
        c"Match weight (sum of log2(m/u) over compared fields) at or above which two records are one person.",
        c"Higher means fewer, surer merges. Applies to cdp.resolve and cdp.explain_match.",
        &MATCH_THRESHOLD,
        -100.0,
        100.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"cdp.match_probability",
        c"Posterior probability at or above which two records are one person, with the prior estimated from the data when a model is fitted.",
        c"Sets the match threshold as log2(p/(1-p)) minus the prior log2-odds of a random pair, within 14..24 bits. Not used while cdp.match_threshold is set, nor for models fitted on fewer than 2000 records.",
        &MATCH_PROBABILITY,
        0.5,
        0.999999,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"cdp.national_id_trust",
        c"Whether two different national ids keep records apart: auto (decided from the data), veto or evidence.",
        c"auto: trusted unless more than 5% of the pairs agreeing on name, birth date and address carry different ids. Decided when cdp.resolve fits a model.",
        &NATIONAL_ID_TRUST,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"cdp.threshold_from_labels",
        c"Whether the match threshold follows the steward decisions (force_link, cannot_link) a model was fitted with.",
        c"The threshold moves within 4 bits of cdp.match_threshold to where the decisions are best separated; on: every run with that model uses it.",
        &THRESHOLD_FROM_LABELS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.max_block_size",
        c"Blocking-key blocks with more records than this are skipped and reported, never compared pairwise.",
        c"Keeps candidate pairs linear in the number of records when a value is very common.",
        &MAX_BLOCK_SIZE,
        2,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.max_profile_size",
        c"No profile grows beyond this many records through matching (forced links excepted).",
        c"",
        &MAX_PROFILE_SIZE,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.resolve_threads",
        c"Threads a resolution run uses to prepare, compare and sample record pairs.",
        c"Results do not depend on it; at most the cores the server may spare.",
        &RESOLVE_THREADS,
        1,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"cdp.hub_min_records",
        c"An identifier value (email, phone, id, device) held by at least this many records is a hub: excluded from matching and listed in cdp.hubs.",
        c"",
        &HUB_MIN_RECORDS,
        2,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"cdp.rfm_recency_thresholds",
        c"Fixed R-score thresholds in days since the last order, four ascending numbers (e.g. '30,90,180,365'); empty means quintiles.",
        c"At most the first threshold scores 5, above the fourth scores 1.",
        &RFM_RECENCY_THRESHOLDS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"cdp.rfm_frequency_thresholds",
        c"Fixed F-score thresholds in orders, four ascending numbers (e.g. '2,3,5,8'); empty means quintiles.",
        c"Below the first threshold scores 1, at least the fourth scores 5.",
        &RFM_FREQUENCY_THRESHOLDS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"cdp.rfm_monetary_thresholds",
        c"Fixed M-score thresholds in net spend, four ascending numbers (e.g. '100,250,500,1000'); empty means quintiles.",
        c"Below the first threshold scores 1, at least the fourth scores 5.",
        &RFM_MONETARY_THRESHOLDS,
        GucContext::Userset,
        GucFlags::default(),
    );
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"cdp".as_ptr()) };
}

pub fn string_setting(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().and_then(|c| c.into_string().ok())
}

pub fn default_country() -> String {
    string_setting(&DEFAULT_COUNTRY).map(|s| s.trim().to_ascii_uppercase()).unwrap_or_default()
}

pub fn worker_database() -> String {
    string_setting(&WORKER_DATABASE).unwrap_or_else(|| "postgres".into())
}

/// The parameters of a resolution run as the settings give them (clamped to what the run
/// accepts); the rest are `Config::default()`.
/// Whether `cdp.match_threshold` has a value other than its built-in default's source.
fn match_threshold_is_set() -> bool {
    pgrx::Spi::get_one::<bool>(
        "SELECT s.source OPERATOR(pg_catalog.<>) 'default' FROM pg_catalog.pg_settings s
          WHERE s.name OPERATOR(pg_catalog.=) 'cdp.match_threshold'",
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

pub fn resolve_config() -> crate::resolve::Config {
    let threshold = MATCH_THRESHOLD.get();
    let default = crate::resolve::Config::default();
    crate::resolve::Config {
        threshold,
        // a cdp.match_threshold set anywhere (postgresql.conf, ALTER DATABASE/ROLE, SET) is used
        // as it is; otherwise the posterior probability decides
        match_probability: (!match_threshold_is_set()).then(|| MATCH_PROBABILITY.get()),
        // keep the weak-bridge guard the same distance above the threshold when it is moved
        weak_bridge_weight: threshold + (default.weak_bridge_weight - default.threshold),
        max_block: MAX_BLOCK_SIZE.get().max(2) as usize,
        max_profile_size: MAX_PROFILE_SIZE.get().max(1) as usize,
        hub_min_count: HUB_MIN_RECORDS.get().max(2) as usize,
        threads: RESOLVE_THREADS.get().max(1) as usize,
        threshold_from_labels: THRESHOLD_FROM_LABELS.get(),
        national_id_trust: match NATIONAL_ID_TRUST.get() {
            TrustGuc::Auto => crate::resolve::model::Trust::Auto,
            TrustGuc::Veto => crate::resolve::model::Trust::Veto,
            TrustGuc::Evidence => crate::resolve::model::Trust::Evidence,
        },
        ..default
    }
}
