//! TLSRPT aggregate reports received from senders (RFC 8460): the spool
//! that keeps them once each across restarts, and the counts they add up
//! to. The report format and its parser are RFC rules
//! ([`crate::rfc::rfc8460::report`]); [`ingest`] takes one in, whichever
//! channel (HTTPS, Maildir) brought it. The mail channel: [`maildir`]
//! reads the messages, [`mail`] takes each apart, [`dkim`] checks its
//! signature.

pub mod component;
pub mod dkim;
pub mod https;
pub mod ingest;
pub mod mail;
pub mod maildir;
pub mod recent;
pub mod spool;
pub mod tally;
pub mod view;
