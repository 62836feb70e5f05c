//! User-facing errors: every one carries a SQLSTATE that fits, a message naming the bad value,
//! and where possible a hint saying what to do.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug, Clone)]
pub struct CdpError {
    pub code: PgSqlErrorCode,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl CdpError {
    pub fn new(code: PgSqlErrorCode, message: impl Into<String>) -> Self {
        CdpError { code, message: message.into(), detail: None, hint: None }
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
        let mut report = ErrorReport::new(self.code, self.message, "pg_cdp");
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
        CdpError::new(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("pg_cdp: SPI failed: {e}"))
    }
}
