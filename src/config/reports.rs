//! `reports:`: receiving TLSRPT aggregate reports (RFC 8460 §5.3): the
//! HTTPS listener (RFC 8460 §5.3.2, off unless `listen_address` is set),
//! the Maildir the `mailto:` channel reads (RFC 8460 §5.3.1, off unless
//! `maildir` is set), their bounds, and how long stored reports are kept.
//! The spool lives under `storage.path`, so either channel needs it.

use super::web::WebConfig;
use super::{ConfigDuration, ConfigIssue};
use crate::echo::capped;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default path reports are POSTed to (RFC 8460 §3 lets the `rua` URI
/// name any path).
pub const DEFAULT_REPORTS_PATH: &str = "/tlsrpt";
/// Default bound on a request body as received (gzip or JSON): 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default bound on a report's JSON once decompressed: 20 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 20 * 1024 * 1024;
/// Default time a client has to send a request's header.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to send a request's body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on requests served at once (more get 503).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;
/// Default days a stored report is kept after its time frame ended.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// Default time between two reads of the Maildir's `new/`.
pub const DEFAULT_MAILDIR_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The largest body or decompressed size accepted: 1 GiB.
const MAX_BYTES: usize = 1 << 30;
/// The longest path accepted, in bytes.
const MAX_PATH_BYTES: usize = 200;

/// `reports:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReports {
    listen_address: Option<String>,
    path: Option<String>,
    web_config_file: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    max_decompressed_bytes: Option<usize>,
    header_timeout: Option<ConfigDuration>,
    body_timeout: Option<ConfigDuration>,
    max_concurrent_requests: Option<usize>,
    retention_days: Option<u32>,
    maildir: Option<PathBuf>,
    maildir_poll_interval: Option<ConfigDuration>,
    dkim: Option<String>,
    authserv_id: Option<String>,
}

/// How a mail's report is known to come from its reporting domain
/// (RFC 8460 §3: a valid DKIM signature of that domain is required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimMode {
    /// The exporter verifies the DKIM signature itself (RFC 6376), with
    /// the resolver of the configuration.
    Verify,
    /// The local MTA verified it: a `dkim=pass` for the reporting domain
    /// in an `Authentication-Results` header (RFC 8601) that the MTA
    /// added under this authserv-id is trusted.
    AuthenticationResults {
        /// The authserv-id of the local MTA's `Authentication-Results`.
        authserv_id: String,
    },
}

/// `reports.web_config_file`: its path and what it holds, loaded when the
/// configuration is (so a broken file is refused then, and a reload picks
/// up a renewed certificate).
#[derive(Clone)]
pub struct ReportsWebConfig {
    /// The file.
    pub path: PathBuf,
    /// TLS and basic authentication for the reports listener.
    pub web: WebConfig,
}

impl std::fmt::Debug for ReportsWebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportsWebConfig")
            .field("path", &self.path)
            .field("tls", &self.web.tls.is_some())
            .field("users", &self.web.users.len())
            .finish()
    }
}

/// Equal when they name the same file (its contents are read again on
/// every load anyway).
impl PartialEq for ReportsWebConfig {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for ReportsWebConfig {}

/// `reports:`: where TLSRPT reports are received and how they are bounded
/// (RFC 8460 §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportsConfig {
    /// Where the HTTPS channel listens (`IP:PORT`, or `:PORT` for every
    /// address); `None`: no listener.
    pub listen_address: Option<String>,
    /// The path reports are POSTed to (RFC 8460 §5.3.2).
    pub path: String,
    /// TLS and basic authentication of the listener.
    pub web_config_file: Option<ReportsWebConfig>,
    /// Bound on a request body as received.
    pub max_body_bytes: usize,
    /// Bound on a report's JSON after decompression (RFC 8460 §5.2).
    pub max_decompressed_bytes: usize,
    /// Time a client has to send a request's header.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: Duration,
    /// Requests served at once; more get 503.
    pub max_concurrent_requests: usize,
    /// Days a report is kept after its time frame ended.
    pub retention_days: u32,
    /// The Maildir the `mailto:` channel reads; `None`: not read.
    pub maildir: Option<PathBuf>,
    /// Time between two reads of the Maildir.
    pub maildir_poll_interval: Duration,
    /// How a mail's DKIM signature is checked (RFC 8460 §3).
    pub dkim: DkimMode,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            listen_address: None,
            path: DEFAULT_REPORTS_PATH.to_string(),
            web_config_file: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            retention_days: DEFAULT_RETENTION_DAYS,
            maildir: None,
            maildir_poll_interval: DEFAULT_MAILDIR_POLL_INTERVAL,
            dkim: DkimMode::Verify,
        }
    }
}

impl ReportsConfig {
    /// Whether any channel receives reports (and so the spool is opened).
    pub fn enabled(&self) -> bool {
        self.listen_address.is_some() || self.maildir.is_some()
    }
}

/// Whether `address` is `IP:PORT` or `:PORT`, as `--web.listen-address`
/// takes it.
fn listen_address_problem(address: &str) -> Option<String> {
    let valid = match address.strip_prefix(':') {
        Some(port) => port.parse::<u16>().is_ok(),
        None => address.parse::<SocketAddr>().is_ok(),
    };
    (!valid).then(|| {
        format!(
            "{:?} is not IP:PORT or :PORT (e.g. \":8443\", \"[::]:8443\", \"127.0.0.1:8443\")",
            capped(address)
        )
    })
}

/// Whether `path` is an absolute URL path without a query.
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!("{:?} must start with /", capped(path)));
    }
    if path.len() > MAX_PATH_BYTES {
        return Some(format!("must be at most {MAX_PATH_BYTES} bytes"));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
    {
        return Some(format!(
            "{:?} must be printable ASCII without spaces, ? or #",
            capped(path)
        ));
    }
    None
}

/// Checks `reports:` and builds its configuration; `storage_path` is
/// `storage.path`, which an enabled channel needs. Every problem is added
/// to `issues`.
pub(super) fn validate_reports(
    raw: RawReports,
    storage_path: Option<&PathBuf>,
    issues: &mut Vec<ConfigIssue>,
) -> ReportsConfig {
    let mut add = |field: &str, problem: String| {
        issues.push(ConfigIssue::new(format!("reports.{field}"), problem));
    };
    let mut reports = ReportsConfig::default();
    if let Some(address) = raw.listen_address {
        if let Some(problem) = listen_address_problem(&address) {
            add("listen_address", problem);
        }
        reports.listen_address = Some(address);
    }
    if let Some(path) = raw.path {
        if let Some(problem) = path_problem(&path) {
            add("path", problem);
        }
        reports.path = path;
    }
    if let Some(path) = raw.web_config_file {
        match WebConfig::load(&path) {
            Ok(web) => reports.web_config_file = Some(ReportsWebConfig { path, web }),
            Err(error) => add("web_config_file", error.to_string()),
        }
    }
    for (field, value, slot) in [
        (
            "max_body_bytes",
            raw.max_body_bytes,
            &mut reports.max_body_bytes,
        ),
        (
            "max_decompressed_bytes",
            raw.max_decompressed_bytes,
            &mut reports.max_decompressed_bytes,
        ),
    ] {
        if let Some(bytes) = value {
            if !(1024..=MAX_BYTES).contains(&bytes) {
                add(field, format!("must be from 1024 to {MAX_BYTES}"));
            }
            *slot = bytes;
        }
    }
    if raw.max_decompressed_bytes.is_some()
        && reports.max_decompressed_bytes < reports.max_body_bytes
    {
        add(
            "max_decompressed_bytes",
            format!(
                "must be at least reports.max_body_bytes ({}): a plain JSON body is as large decompressed",
                reports.max_body_bytes
            ),
        );
    }
    for (field, value, slot) in [
        (
            "header_timeout",
            raw.header_timeout,
            &mut reports.header_timeout,
        ),
        ("body_timeout", raw.body_timeout, &mut reports.body_timeout),
    ] {
        if let Some(duration) = value {
            if duration.0.is_zero() {
                add(field, "must be above zero".into());
            }
            *slot = duration.0;
        }
    }
    if let Some(n) = raw.max_concurrent_requests {
        if n == 0 || n > 10_000 {
            add("max_concurrent_requests", "must be from 1 to 10000".into());
        }
        reports.max_concurrent_requests = n;
    }
    if let Some(days) = raw.retention_days {
        if days == 0 || days > 3650 {
            add("retention_days", "must be from 1 to 3650".into());
        }
        reports.retention_days = days;
    }
    if let Some(maildir) = raw.maildir {
        if maildir.as_os_str().is_empty() {
            add("maildir", "must not be empty".into());
        }
        reports.maildir = Some(maildir);
    }
    if let Some(interval) = raw.maildir_poll_interval {
        if interval.0 < Duration::from_secs(1) {
            add("maildir_poll_interval", "must be at least 1s".into());
        }
        reports.maildir_poll_interval = interval.0;
    }
    reports.dkim = match (raw.dkim.as_deref(), raw.authserv_id) {
        (None | Some("verify"), None) => DkimMode::Verify,
        (None | Some("verify"), Some(_)) => {
            add(
                "authserv_id",
                "is only used with reports.dkim: authentication-results".into(),
            );
            DkimMode::Verify
        }
        (Some("authentication-results"), Some(authserv_id)) => {
            if authserv_id.is_empty() || authserv_id.chars().any(char::is_whitespace) {
                add(
                    "authserv_id",
                    format!(
                        "{:?} is not an authserv-id (RFC 8601 §2.5: a name without spaces)",
                        capped(&authserv_id)
                    ),
                );
            }
            DkimMode::AuthenticationResults { authserv_id }
        }
        (Some("authentication-results"), None) => {
            add(
                "dkim",
                "authentication-results needs reports.authserv_id: the authserv-id the local MTA writes in Authentication-Results".into(),
            );
            DkimMode::Verify
        }
        (Some(other), _) => {
            add(
                "dkim",
                format!(
                    "{:?} is not verify or authentication-results",
                    capped(other)
                ),
            );
            DkimMode::Verify
        }
    };
    if reports.enabled() && storage_path.is_none() {
        issues.push(ConfigIssue::new(
            "reports",
            "receiving reports needs storage.path: the received reports are kept there",
        ));
    }
    reports
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DkimMode};
    use std::time::Duration;

    #[test]
    fn off_by_default_and_defaults_when_on() {
        let config = Config::parse("domains: [a.example]\n").unwrap();
        assert!(!config.reports.enabled());
        let config =
            Config::parse("storage:\n  path: /var/lib/x\nreports:\n  listen_address: \":8443\"\n")
                .unwrap();
        let reports = &config.reports;
        assert!(reports.enabled());
        assert_eq!(reports.path, "/tlsrpt");
        assert_eq!(reports.max_body_bytes, 1 << 20);
        assert_eq!(reports.max_decompressed_bytes, 20 << 20);
        assert_eq!(reports.retention_days, 400);
        assert_eq!(reports.maildir_poll_interval, Duration::from_secs(30));
        assert_eq!(reports.dkim, DkimMode::Verify);
    }

    #[test]
    fn every_bad_value_is_named_at_its_line() {
        let issues = Config::parse(
            "reports:
  listen_address: nowhere
  path: tlsrpt
  max_body_bytes: 10
  max_decompressed_bytes: 2048
  header_timeout: 0s
  max_concurrent_requests: 0
  retention_days: 0
  maildir_poll_interval: 10ms
  dkim: maybe
",
        )
        .unwrap_err();
        let found: Vec<(&str, Option<usize>)> = issues
            .iter()
            .map(|i| (i.field.as_str(), i.position.map(|p| p.line)))
            .collect();
        assert_eq!(
            found,
            [
                ("reports.listen_address", Some(2)),
                ("reports.path", Some(3)),
                ("reports.max_body_bytes", Some(4)),
                ("reports.header_timeout", Some(6)),
                ("reports.max_concurrent_requests", Some(7)),
                ("reports.retention_days", Some(8)),
                ("reports.maildir_poll_interval", Some(9)),
                ("reports.dkim", Some(10)),
                ("reports", Some(1)),
            ],
            "{issues:?}"
        );
        assert!(issues[8].problem.contains("storage.path"), "{issues:?}");
    }

    #[test]
    fn authentication_results_needs_an_authserv_id() {
        let base = "storage:\n  path: /x\nreports:\n  maildir: /var/mail/tlsrpt\n";
        let issues = Config::parse(&format!("{base}  dkim: authentication-results\n")).unwrap_err();
        assert_eq!(issues[0].field, "reports.dkim", "{issues:?}");
        let config = Config::parse(&format!(
            "{base}  dkim: authentication-results\n  authserv_id: mx.example.net\n"
        ))
        .unwrap();
        assert_eq!(
            config.reports.dkim,
            DkimMode::AuthenticationResults {
                authserv_id: "mx.example.net".into()
            }
        );
        let issues = Config::parse(&format!("{base}  authserv_id: mx.example.net\n")).unwrap_err();
        assert_eq!(issues[0].field, "reports.authserv_id", "{issues:?}");
        let issues = Config::parse(&format!(
            "{base}  max_body_bytes: 4096\n  max_decompressed_bytes: 2048\n"
        ))
        .unwrap_err();
        assert_eq!(issues[0].field, "reports.max_decompressed_bytes");
    }

    #[test]
    fn a_missing_web_config_file_is_a_problem_of_its_field() {
        let issues = Config::parse(
            "storage:\n  path: /x\nreports:\n  listen_address: 127.0.0.1:0\n  web_config_file: /nonexistent/web.yml\n",
        )
        .unwrap_err();
        assert_eq!(issues[0].field, "reports.web_config_file", "{issues:?}");
        assert_eq!(issues[0].position.map(|p| p.line), Some(5));
    }
}
