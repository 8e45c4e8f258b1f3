//! `--web.config.file`: TLS and basic authentication for the HTTP endpoints,
//! in the Prometheus exporter-toolkit format, so operators reuse the files
//! they have for their other exporters.
//!
//! Supported: `tls_server_config.cert_file` / `key_file`, and
//! `basic_auth_users` (bcrypt hashes). Other exporter-toolkit keys are
//! refused with a clear error rather than silently ignored.

use super::read::read_bytes;
use super::yaml::{self, ConfigIssue};
use crate::echo::capped;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// The loaded web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// When set, connections must speak TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// When not empty, requests need HTTP basic authentication with one of
    /// these users (bcrypt hashes).
    pub users: BTreeMap<String, String>,
}

/// Why a web configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("{}", issue.render(path))]
pub struct WebConfigError {
    /// The file.
    pub path: String,
    /// The field, its line and what is wrong with it.
    pub issue: ConfigIssue,
}

impl WebConfig {
    /// Reads and checks a web configuration file; certificate and key are
    /// loaded now, so a broken file fails at start-up, not at the first
    /// connection.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |mut issue: ConfigIssue, text: &str| {
            yaml::place_issues(text, std::slice::from_mut(&mut issue));
            WebConfigError {
                path: path.display().to_string(),
                issue,
            }
        };
        let text = super::read::read_text(path).map_err(|e| match e {
            super::read::ReadError::Encoding(issue) => error(issue, ""),
            e => error(ConfigIssue::new("", e.to_string()), ""),
        })?;
        let raw: RawWebConfig = yaml::from_str(&text).map_err(|issue| WebConfigError {
            path: path.display().to_string(),
            issue,
        })?;
        for (user, hash) in &raw.basic_auth_users {
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                let issue = ConfigIssue::new(
                    format!("basic_auth_users.{}", capped(user)),
                    "not a bcrypt hash",
                );
                return Err(error(issue, &text));
            }
        }
        let tls = match raw.tls_server_config {
            Some(tls) => Some(Arc::new(
                server_tls(&tls.cert_file, &tls.key_file).map_err(|issue| error(issue, &text))?,
            )),
            None => None,
        };
        Ok(WebConfig {
            tls,
            users: raw.basic_auth_users,
        })
    }

    /// Whether the `Authorization` header value grants access. Without
    /// users, everything does. bcrypt is deliberately slow: call it off the
    /// async threads.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(credentials) = authorization.and_then(|v| v.strip_prefix("Basic ")) else {
            return false;
        };
        use base64::Engine as _;
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim())
        else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => false,
        }
    }
}

fn server_tls(cert_file: &Path, key_file: &Path) -> Result<rustls::ServerConfig, ConfigIssue> {
    let cert_issue = |problem: String| {
        ConfigIssue::new(
            "tls_server_config.cert_file",
            format!("{}: {problem}", capped(&cert_file.display().to_string())),
        )
    };
    let key_issue = |problem: String| {
        ConfigIssue::new(
            "tls_server_config.key_file",
            format!("{}: {problem}", capped(&key_file.display().to_string())),
        )
    };
    use rustls::pki_types::pem::{self, PemObject};
    let certs_pem = read_bytes(cert_file).map_err(|e| cert_issue(e.to_string()))?;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&certs_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| cert_issue(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_issue("no certificate".into()));
    }
    let key_pem = read_bytes(key_file).map_err(|e| key_issue(e.to_string()))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => key_issue("no private key".into()),
        other => key_issue(other.to_string()),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(crate::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigIssue::new("tls_server_config", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ConfigIssue::new(
                "tls_server_config",
                format!("certificate and key do not fit: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
