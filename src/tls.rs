//! TLS set-up shared by every TLS client and server of the exporter: the
//! crypto provider and the trust store (Mozilla's WebPKI roots, RFC 8461
//! §3.3, plus the configured extra roots).

use std::path::Path;
use std::sync::Arc;

/// Why the trust store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    /// The CA file could not be read or holds no certificate.
    #[error("tls.ca_file {path}: {problem}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused an extra root.
    #[error("cannot set up the HTTPS client: extra root rejected: {0}")]
    ExtraRoot(String),
}

/// The `ring` crypto provider, named explicitly: several providers may be
/// compiled in (see `crate-pitfalls.md`), so no process default is relied on.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS client settings handed to every hickory resolver. The exporter
/// asks its name servers over UDP and TCP only, but hickory, built with
/// TLS (DNS over TLS, needed by mail-auth's `ring` feature), otherwise
/// loads the system's trust store when a resolver is built, which fails
/// where there is none (the `FROM scratch` image): this one uses the
/// WebPKI roots, as every other TLS client of the exporter.
pub fn resolver_tls_config() -> Result<rustls::ClientConfig, String> {
    let roots = root_store(&[]).map_err(|e| e.to_string())?;
    Ok(
        rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Loads the extra trust roots: every certificate in a PEM file.
pub fn load_ca_file(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TrustStoreError> {
    let ca_error = |problem: String| TrustStoreError::CaFile {
        path: path.display().to_string(),
        problem,
    };
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ca_error(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ca_error("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// The trust store: Mozilla's WebPKI roots plus the configured extra roots.
pub fn root_store(
    extra: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::RootCertStore, TrustStoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| TrustStoreError::ExtraRoot(e.to_string()))?;
    }
    Ok(roots)
}
