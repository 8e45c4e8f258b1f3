//! `--web.config.file`: TLS and basic authentication for the HTTP endpoints,
//! in the Prometheus exporter-toolkit format, so operators reuse the files
//! they have for their other exporters.
//!
//! Supported: `tls_server_config.cert_file` / `key_file`, and
//! `basic_auth_users` (bcrypt hashes). Other exporter-toolkit keys are
//! refused with a clear error rather than silently ignored.

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
#[error("{path}: {problem}")]
pub struct WebConfigError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl WebConfig {
    /// Reads and checks a web configuration file; certificate and key are
    /// loaded now, so a broken file fails at start-up, not at the first
    /// connection.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |problem: String| WebConfigError {
            path: path.display().to_string(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig {
                tls_server_config: None,
                basic_auth_users: BTreeMap::new(),
            }
        } else {
            let deserializer = serde_yaml::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                error(format!("field {}: {} (supported: tls_server_config.cert_file, tls_server_config.key_file, basic_auth_users)", e.path(), e.inner()))
            })?
        };
        for (user, hash) in &raw.basic_auth_users {
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                return Err(error(format!(
                    "field basic_auth_users.{user}: not a bcrypt hash"
                )));
            }
        }
        let tls = match raw.tls_server_config {
            Some(tls) => Some(Arc::new(
                server_tls(&tls.cert_file, &tls.key_file).map_err(error)?,
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

fn server_tls(cert_file: &Path, key_file: &Path) -> Result<rustls::ServerConfig, String> {
    let certs_pem =
        std::fs::read(cert_file).map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut certs_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("cert_file {}: no certificate", cert_file.display()));
    }
    let key_pem =
        std::fs::read(key_file).map_err(|e| format!("key_file {}: {e}", key_file.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("key_file {}: {e}", key_file.display()))?
        .ok_or_else(|| format!("key_file {}: no private key", key_file.display()))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(crate::probe::policy_fetch::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
