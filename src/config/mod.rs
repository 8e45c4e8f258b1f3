//! The YAML configuration (`--config.file`): schema, defaults and
//! validation; and, in [`web`], the `--web.config.file` reader.
//!
//! Every error names the file, the field and the problem; validation reports
//! all problems it finds at once, not only the first.
//!
//! [`Config::parse`] runs the steps in order: [`yaml`] deserializes the text
//! into `raw` (the file as written), `validate` checks each section and
//! builds a [`Config`] (the types of `schema`, starting from `defaults`), and
//! [`yaml::place_issues`] gives each problem its `line:column`. The other
//! modules each hold one kind of value written in the file: `duration`,
//! `domain` (IDN names), `nameserver`, `shard` and `probe_endpoint` (the
//! `/probe` endpoint's policy). Everything public is re-exported here, so
//! callers write `crate::config::X` whichever module `X` lives in.

use std::path::{Path, PathBuf};

mod dane;
mod defaults;
mod domain;
mod duration;
pub mod issues;
mod nameserver;
mod probe_endpoint;
mod raw;
pub mod read;
mod reports;
mod schema;
mod shard;
mod validate;
pub mod web;
pub mod yaml;

pub use dane::DaneMode;
pub use defaults::{
    default_helo_name, DEFAULT_ADDRESSES_PER_FAMILY, DEFAULT_CONCURRENCY, DEFAULT_INTERVAL,
    DEFAULT_MAX_MX_HOSTS, DEFAULT_PROBE_MAX_CONCURRENT, DEFAULT_RESOLVER_TIMEOUT,
    DEFAULT_SMTP_TIMEOUT, DEFAULT_STORAGE_WRITE_INTERVAL, DEFAULT_TIMEOUT,
};
pub use domain::normalize_domain;
pub use duration::{parse_duration, ConfigDuration};
pub use nameserver::parse_nameserver;
pub use probe_endpoint::ProbeEndpointConfig;
pub use read::MAX_CONFIG_BYTES;
pub use reports::{DkimMode, ReportsConfig, ReportsWebConfig};
pub use schema::{
    AddressesConfig, Config, DomainConfig, Ports, ProbeSettings, ResolverConfig, SmtpConfig,
    StorageConfig,
};
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
    /// The path is not something to read a configuration from: not a
    /// regular file, or over [`MAX_CONFIG_BYTES`].
    #[error("{}: {reason}", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why it was not read.
        reason: read::ReadError,
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
    /// Reads and validates a configuration file. It blocks (on the file
    /// system, and for up to a second on a huge file): call it off the async
    /// threads.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let path_buf = path.to_path_buf();
        let text = read::read_text(path).map_err(|reason| match reason {
            read::ReadError::Io(source) => ConfigError::Read {
                path: path_buf,
                source,
            },
            read::ReadError::Encoding(issue) => ConfigError::Invalid {
                path: path_buf,
                issues: vec![issue],
            },
            reason => ConfigError::Refused {
                path: path_buf,
                reason,
            },
        })?;
        let mut config = Config::parse(&text).map_err(|issues| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        })?;
        // MTASTS_SHARD_INDEX / MTASTS_SHARD_COUNT override `shard` (and a
        // reload keeps them): see src/shard_env.rs.
        crate::shard_env::apply(&mut config).map_err(|issue| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues: vec![issue],
        })?;
        Ok(config)
    }

    /// Parses and validates configuration text, returning the problems
    /// found, each with the line it is on (the first of each kind, and a
    /// count of the rest: see [`issues`]).
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigIssue>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let raw: RawConfig = yaml::from_str(text).map_err(|issue| vec![issue])?;
        validate::validate(raw).map_err(|mut issues| {
            yaml::place_issues(text, &mut issues);
            issues::bound(issues)
        })
    }
}
