//! RFC 8460, SMTP TLS Reporting (TLSRPT).

pub mod datetime;
pub mod record;
pub mod record_set;
pub mod report;
pub mod report_body;
mod report_json;
pub mod result_type;

pub use record::{TlsRptError, TlsRptRecord};
pub use record_set::TlsRptStatus;
pub use result_type::ResultType;
