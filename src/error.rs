//! User-facing errors: every one carries a SQLSTATE that fits, a message naming the bad value,
//! and where possible a hint saying what to do.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Every kind of error pg_cdp raises on purpose, in Rust or in its SQL. `CATALOG` gives each its
/// SQLSTATE and condition name; the reference's error table (`docs/reference.md`, "Errors") lists
/// exactly these, and a test checks the two, and every SQLSTATE the SQL files raise, against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    WrongObjectType,
    UndefinedTable,
    UndefinedColumn,
    InsufficientPrivilege,
    InvalidParameterValue,
    NullValueNotAllowed,
    SyntaxError,
    InvalidColumnReference,
    DuplicateObject,
    UndefinedObject,
    ObjectNotInPrerequisiteState,
    DatatypeMismatch,
    FeatureNotSupported,
    /// A bug in pg_cdp (a statement it built failed): never the user's input.
    InternalError,
}

/// (kind, PostgreSQL's code, SQLSTATE, condition name as PL/pgSQL spells it).
pub const CATALOG: [(Kind, PgSqlErrorCode, &str, &str); 14] = [
    (Kind::WrongObjectType, PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, "42809", "wrong_object_type"),
    (Kind::UndefinedTable, PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, "42P01", "undefined_table"),
    (Kind::UndefinedColumn, PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN, "42703", "undefined_column"),
    (Kind::InsufficientPrivilege, PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, "42501", "insufficient_privilege"),
    (Kind::InvalidParameterValue, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "22023", "invalid_parameter_value"),
    (Kind::NullValueNotAllowed, PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "22004", "null_value_not_allowed"),
    (Kind::SyntaxError, PgSqlErrorCode::ERRCODE_SYNTAX_ERROR, "42601", "syntax_error"),
    (Kind::InvalidColumnReference, PgSqlErrorCode::ERRCODE_INVALID_COLUMN_REFERENCE, "42P10", "invalid_column_reference"),
    (Kind::DuplicateObject, PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT, "42710", "duplicate_object"),
    (Kind::UndefinedObject, PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, "42704", "undefined_object"),
    (
        Kind::ObjectNotInPrerequisiteState,
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        "55000",
        "object_not_in_prerequisite_state",
    ),
    (Kind::DatatypeMismatch, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, "42804", "datatype_mismatch"),
    (Kind::FeatureNotSupported, PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "0A000", "feature_not_supported"),
    (Kind::InternalError, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "XX000", "internal_error"),
];

impl Kind {
    fn entry(self) -> &'static (Kind, PgSqlErrorCode, &'static str, &'static str) {
        CATALOG.iter().find(|e| e.0 == self).expect("every kind is in the catalog")
    }

    pub fn code(self) -> PgSqlErrorCode {
        self.entry().1
    }

    pub fn sqlstate(self) -> &'static str {
        self.entry().2
    }
}

/// The expression checker's verdicts (`crates/cdp-core/src/expr.rs`, pure) as catalogued kinds.
impl From<crate::expr::ExprErrorKind> for Kind {
    fn from(k: crate::expr::ExprErrorKind) -> Self {
        use crate::expr::ExprErrorKind as K;
        match k {
            K::Syntax => Kind::SyntaxError,
            K::UnknownColumn => Kind::UndefinedColumn,
            K::NotAllowed => Kind::InsufficientPrivilege,
        }
    }
}

impl From<crate::expr::ExprError> for CdpError {
    fn from(e: crate::expr::ExprError) -> Self {
        let err = CdpError::new(e.kind.into(), e.message);
        match e.hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CdpError {
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl CdpError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        CdpError { kind, message: message.into(), detail: None, hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Raise as a PostgreSQL ERROR; the current transaction is aborted.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.kind.code(), self.message, "pg_cdp");
        if let Some(d) = self.detail {
            report = report.set_detail(d);
        }
        if let Some(h) = self.hint {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Shorthand for `Result<T, CdpError>`; `.or_raise()` turns it into a value or an ERROR.
pub type CdpResult<T> = Result<T, CdpError>;

pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for CdpResult<T> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.raise(),
        }
    }
}

/// SPI failures are internal errors: they mean pg_cdp built a bad statement, not that the user did.
impl From<pgrx::spi::Error> for CdpError {
    fn from(e: pgrx::spi::Error) -> Self {
        CdpError::new(Kind::InternalError, format!("pg_cdp: SPI failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const ROOT: &str = env!("CARGO_MANIFEST_DIR");

    /// SQLSTATE → condition name, as the reference's error table lists them.
    fn documented() -> BTreeMap<String, String> {
        let text = std::fs::read_to_string(format!("{ROOT}/docs/reference.md")).unwrap();
        let section = text.split("\n## Errors\n").nth(1).expect("docs/reference.md has an Errors section");
        let section = section.split("\n## ").next().unwrap();
        section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|l| {
                let (state, rest) = l.split_once('`').unwrap();
                let name = rest.trim().split_whitespace().next().unwrap().trim_end_matches('|');
                (state.to_string(), name.to_string())
            })
            .collect()
    }

    #[test]
    fn the_reference_lists_exactly_the_catalog() {
        let catalog: BTreeMap<String, String> = CATALOG.iter().map(|e| (e.2.to_string(), e.3.to_string())).collect();
        assert_eq!(documented(), catalog);
    }

    #[test]
    fn each_kind_has_one_entry_with_its_code() {
        for (kind, code, state, _) in CATALOG {
            assert_eq!(CATALOG.iter().filter(|e| e.0 == kind).count(), 1, "{kind:?}");
            assert_eq!(kind.code(), code);
            // the SQLSTATE is PostgreSQL's encoding of the code (MAKE_SQLSTATE)
            let bits = code as i32;
            let decoded: String = (0..5).map(|i| (((bits >> (6 * i)) & 0x3f) as u8 + b'0') as char).collect();
            assert_eq!(decoded, state, "{kind:?}");
        }
    }

    /// Every SQLSTATE the extension's SQL raises (literal or by condition name) is catalogued.
    #[test]
    fn the_sql_raises_only_catalogued_sqlstates() {
        let states: Vec<&str> = CATALOG.iter().map(|e| e.2).collect();
        let names: Vec<&str> = CATALOG.iter().map(|e| e.3).collect();
        let mut seen = 0;
        for entry in std::fs::read_dir(format!("{ROOT}/sql")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "sql") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for raised in text.split("ERRCODE = ").skip(1) {
                let token: String =
                    raised.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '\'').collect();
                match token.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
                    Some(state) => assert!(states.contains(&state), "{}: SQLSTATE {state} is not in the catalog", path.display()),
                    // a text variable holding a caught error's SQLSTATE is re-raised as it was
                    None if text.contains(&format!("{token} text")) && !names.contains(&token.as_str()) => continue,
                    None => assert!(names.contains(&token.as_str()), "{}: {token} is not in the catalog", path.display()),
                }
                seen += 1;
            }
        }
        assert!(seen > 20, "found only {seen} raises: the scan is broken");
    }

    /// Rust raises only through `Kind`: no other file names a PostgreSQL error code to raise it
    /// (the worker reads codes to classify failures; notices and warnings are not errors).
    #[test]
    fn rust_raises_only_through_the_catalog() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out)
                } else if p.extension().is_some_and(|e| e == "rs") {
                    out.push(p)
                }
            }
        }
        let mut files = Vec::new();
        walk(std::path::Path::new(&format!("{ROOT}/src")), &mut files);
        walk(std::path::Path::new(&format!("{ROOT}/crates/cdp-core/src")), &mut files);
        assert!(files.len() > 20);
        for f in files {
            if f == std::path::Path::new(&format!("{ROOT}/src/error.rs")) || f == std::path::Path::new(&format!("{ROOT}/src/worker.rs")) {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for code in text.split("ERRCODE_").skip(1) {
                let name: String = code.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                assert!(
                    ["SUCCESSFUL_COMPLETION", "WARNING"].contains(&name.as_str()),
                    "{} raises ERRCODE_{name} outside src/error.rs",
                    f.display()
                );
            }
        }
    }
}
