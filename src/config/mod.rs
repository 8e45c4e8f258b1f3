//! The YAML configuration: schema, defaults and validation.
//!
//! Every error names the file, the field and the problem; validation reports
//! all problems it finds at once, not only the first.

use std::path::{Path, PathBuf};

mod defaults;
mod domain;
mod duration;
mod nameserver;
mod probe_endpoint;
mod raw;
mod schema;
mod shard;
mod validate;
pub mod web;
pub mod yaml;

pub use defaults::{
    default_helo_name, DEFAULT_CONCURRENCY, DEFAULT_INTERVAL, DEFAULT_MAX_MX_HOSTS,
    DEFAULT_PROBE_MAX_CONCURRENT, DEFAULT_RESOLVER_TIMEOUT, DEFAULT_SMTP_TIMEOUT, DEFAULT_TIMEOUT,
};
pub use domain::normalize_domain;
pub use duration::{parse_duration, ConfigDuration};
pub use nameserver::parse_nameserver;
pub use probe_endpoint::ProbeEndpointConfig;
pub use schema::{Config, DomainConfig, Ports, ProbeSettings, ResolverConfig, SmtpConfig};
pub use shard::{domain_hash, Shard};
pub use yaml::{ConfigIssue, Position};

use raw::RawConfig;

/// Why a configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but has one or more problems.
    #[error("{}", render_issues(path, issues))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        issues: Vec<ConfigIssue>,
    },
}

fn render_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    let file = path.display().to_string();
    issues
        .iter()
        .map(|issue| issue.render(&file))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|issues| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        })
    }

    /// Parses and validates configuration text, returning every problem found,
    /// each with the line it is on.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigIssue>> {
        let raw: RawConfig = yaml::from_str(text).map_err(|issue| vec![issue])?;
        validate::validate(raw).map_err(|mut issues| {
            yaml::place_issues(text, &mut issues);
            issues
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse(
            "interval: 1m\ndomains:\n  - Example.COM.\n  - name: bücher.example\n    interval: 30s\n    check_mx: false\n",
        )
        .unwrap();
        assert_eq!(c.defaults.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.domains[0].name, "example.com");
        assert_eq!(c.domains[0].settings.interval, Duration::from_secs(60));
        assert_eq!(c.domains[1].name, "xn--bcher-kva.example");
        assert_eq!(c.domains[1].settings.interval, Duration::from_secs(30));
        assert!(!c.domains[1].settings.check_mx);
        assert!(c.domains[1].settings.check_starttls);
        let c = Config::parse("check_starttls: false\nsmtp:\n  helo_name: probe.example.net\n  timeout: 10s\ndomains: [a.example]\n").unwrap();
        assert!(!c.domains[0].settings.check_starttls);
        assert_eq!(c.smtp.helo_name, "probe.example.net");
        assert_eq!(c.smtp.timeout, Duration::from_secs(10));
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(c.ports.https, 443);
    }

    #[test]
    fn unknown_field_named() {
        let issues = Config::parse("resolver:\n  nameserver: [1.2.3.4]\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "resolver.nameserver");
        assert!(
            issues[0].problem.contains("unknown field `nameserver`"),
            "{}",
            issues[0].problem
        );
    }

    #[test]
    fn domain_entry_errors_named() {
        let issues =
            Config::parse("domains:\n  - name: a.example\n    intervall: 5m\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0].intervall");
        let issues =
            Config::parse("domains:\n  - name: a.example\n    interval: soon\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0].interval");
        assert!(issues[0].problem.contains("invalid duration"));
        let issues = Config::parse("domains:\n  - [a]\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0]");
    }

    #[test]
    fn bad_duration_named() {
        let issues = Config::parse("interval: 5 minutes\n").unwrap_err();
        assert_eq!(issues[0].field, "interval");
        assert!(issues[0].problem.contains("invalid duration"));
    }

    #[test]
    fn all_problems_reported() {
        let issues = Config::parse(
            "concurrency: 0\nresolver:\n  nameservers: [\"nope\", \"127.0.0.1:5353\"]\ndomains:\n  - example.com\n  - EXAMPLE.com\n  - \"bad_name.com\"\n  - localhost\n  - name: ok.example\n    timeout: 0s\n",
        )
        .unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "concurrency",
                "resolver.nameservers[0]",
                "domains[1]",
                "domains[2]",
                "domains[3]",
                "domains[4].timeout"
            ]
        );
        assert!(issues[2].problem.contains("duplicate"));
        let lines: Vec<Option<usize>> = issues.iter().map(|i| i.position.map(|p| p.line)).collect();
        assert_eq!(
            lines,
            vec![Some(1), Some(3), Some(6), Some(7), Some(8), Some(10)]
        );
    }

    #[test]
    fn an_override_is_checked_where_it_is_written() {
        // A bad global interval is one problem, on its own line, not one more
        // for every domain that inherits it.
        let issues = Config::parse(
            "interval: 10ms
modules:
  quick:
    check_mx: false
domains:
  - name: a.example
    timeout: 5s
  - name: b.example
    interval: 0s
",
        )
        .unwrap_err();
        let found: Vec<(&str, Option<usize>)> = issues
            .iter()
            .map(|i| (i.field.as_str(), i.position.map(|p| p.line)))
            .collect();
        assert_eq!(
            found,
            vec![("interval", Some(1)), ("domains[1].interval", Some(9))]
        );
    }

    #[test]
    fn hostile_config_input() {
        // Wrong types, huge numbers, negative durations, duplicate keys: an
        // error naming the field, never a panic.
        let cases = [
            ("concurrency: many\n", "concurrency"),
            ("concurrency: 99999999999999999999999\n", "concurrency"),
            ("concurrency: -3\n", "concurrency"),
            ("interval: -5m\n", "interval"),
            ("interval: 99999999999999999999h\n", "interval"),
            ("timeout: [1, 2]\n", "timeout"),
            ("ports:\n  https: 70000\n", "ports.https"),
            ("domains: example.com\n", "domains"),
            ("domains:\n  - 42\n", "domains[0]"),
        ];
        for (text, field) in cases {
            let issues = Config::parse(text).expect_err(text);
            assert_eq!(issues[0].field, field, "{text}: {:?}", issues);
            assert!(issues[0].position.is_some(), "{text}: {:?}", issues);
        }
        let issues = Config::parse("interval: 1m\ninterval: 2m\n").unwrap_err();
        assert_eq!(issues[0].field, "interval");
        assert!(issues[0].problem.contains("duplicate"), "{:?}", issues);
        assert_eq!(issues[0].position, Some(Position { line: 2, column: 1 }));
        let issues = Config::parse("resolver:\n  timeout: 1s\n  timeout: 2s\n").unwrap_err();
        assert_eq!(issues[0].field, "resolver.timeout");
        // Syntax errors and a document that is not a mapping: no field, but
        // still a line.
        for text in [
            "{{{{",
            "- - - -",
            "interval: 5m\n  timeout: 1s\n",
            "a: 'unclosed\n",
        ] {
            let issues = Config::parse(text).expect_err(text);
            assert_eq!(issues.len(), 1, "{text}: {issues:?}");
            assert!(issues[0].position.is_some(), "{text}: {issues:?}");
        }
    }

    #[test]
    fn a_hundred_thousand_domains() {
        let mut text = String::from("domains:\n");
        for i in 0..100_000 {
            text.push_str(&format!("  - d{i}.example\n"));
        }
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.domains.len(), 100_000);
        text.push_str("  - d7.example\n");
        let issues = Config::parse(&text).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "domains[100000]");
        assert_eq!(issues[0].position.map(|p| p.line), Some(100_002));
    }
}
