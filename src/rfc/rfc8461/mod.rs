//! RFC 8461, SMTP MTA Strict Transport Security (MTA-STS).

pub mod advice;
pub mod mode;
pub mod mx;
pub mod policy;
pub mod record;
pub mod record_set;

pub use mx::{MxCoverage, MxPattern};
pub use policy::{Mode, Policy, PolicyError};
pub use record::{RecordError, StsRecord};
