//! Certificates: what a TLS peer presented, why it is not valid, and a
//! verifier that records the chain whatever its verdict (so an expired or
//! untrusted certificate can still be described and its expiry exported).

use crate::report::CertInfo;
use crate::taxonomy::CertProblem;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Subject names kept per certificate (a CDN certificate may list hundreds).
const MAX_NAMES: usize = 20;

/// The rustls error in `error`, looking through nested `io::Error`s, whose
/// payload `source()` does not show (hyper-util wraps tokio-rustls's
/// `io::Error(InvalidData, rustls::Error)` in another `io::Error`). Shared by
/// the policy fetch and the STARTTLS check.
pub fn find_rustls_error<'a>(
    mut error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    for _ in 0..8 {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        error = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
    None
}

/// Maps a rustls certificate verdict to what RFC 8460 distinguishes.
pub fn cert_problem(error: &rustls::CertificateError) -> CertProblem {
    use rustls::CertificateError as E;
    match error {
        E::Expired | E::ExpiredContext { .. } => CertProblem::Expired,
        E::NotValidYet | E::NotValidYetContext { .. } => CertProblem::NotYetValid,
        E::NotValidForName | E::NotValidForNameContext { .. } => CertProblem::HostMismatch,
        E::UnknownIssuer => CertProblem::NotTrusted("unknown issuer".into()),
        E::BadSignature => CertProblem::NotTrusted("bad signature".into()),
        E::Revoked => CertProblem::NotTrusted("revoked".into()),
        other => CertProblem::NotTrusted(format!("{other:?}").chars().take(100).collect()),
    }
}

/// Describes a DER certificate; `None` when it does not parse.
pub fn describe(der: &[u8], problem: Option<CertProblem>) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(name) => Some(cap(name, 253)),
                _ => None,
            })
            .take(MAX_NAMES)
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(|cn| cap(cn, 253))
                .take(1),
        );
    }
    Some(CertInfo {
        valid: problem.is_none(),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        names,
        issuer: cap(&cert.issuer().to_string(), 200),
        problem,
    })
}

fn cap(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// A WebPKI verifier that also records every chain it is shown, by server
/// name, so the caller can describe the certificate after the handshake,
/// whether it passed or not. Entries are taken out by [`take`](Self::take).
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<HashMap<String, CertificateDer<'static>>>,
    /// The certificates sent after the leaf, per server name (at most
    /// [`crate::rfc::rfc7672::matching::MAX_CHAIN_LEN`]): DANE-TA records
    /// match them (RFC 7672 §3.1.2).
    intermediates: Mutex<HashMap<String, Vec<CertificateDer<'static>>>>,
}

/// Why a verifier could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the certificate verifier: {0}")]
pub struct VerifierError(String);

impl RecordingVerifier {
    /// A verifier trusting `roots`.
    pub fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<RecordingVerifier, VerifierError> {
        Ok(RecordingVerifier::with_inner(webpki_verifier(
            roots, provider,
        )?))
    }

    /// A recorder around an existing WebPKI verifier (cheap: for one
    /// connection of its own).
    pub fn with_inner(inner: Arc<WebPkiServerVerifier>) -> RecordingVerifier {
        RecordingVerifier {
            inner,
            seen: Mutex::new(HashMap::new()),
            intermediates: Mutex::new(HashMap::new()),
        }
    }

    /// The leaf certificate last presented for `server_name`, removed from
    /// the record.
    pub fn take(&self, server_name: &str) -> Option<CertificateDer<'static>> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(server_name)
    }

    /// The certificates presented after the leaf for `server_name`,
    /// removed from the record (empty when none were seen).
    pub fn take_intermediates(&self, server_name: &str) -> Vec<CertificateDer<'static>> {
        self.intermediates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(server_name)
            .unwrap_or_default()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = match server_name {
            ServerName::DnsName(dns) => dns.as_ref().to_string(),
            other => format!("{other:?}"),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: one entry per host being contacted right now; a fetch
        // that never takes its entry (cancelled) is overwritten next time.
        if seen.len() < 100_000 {
            seen.insert(name.clone(), end_entity.clone().into_owned());
        }
        drop(seen);
        if !intermediates.is_empty() {
            let mut chains = self.intermediates.lock().unwrap_or_else(|p| p.into_inner());
            if chains.len() < 100_000 {
                let chain = intermediates
                    .iter()
                    .take(crate::rfc::rfc7672::matching::MAX_CHAIN_LEN)
                    .map(|c| c.clone().into_owned())
                    .collect();
                chains.insert(name, chain);
            }
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The WebPKI verifier for `roots`.
pub fn webpki_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, VerifierError> {
    WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| VerifierError(e.to_string()))
}

/// A client configuration using `verifier`, with session resumption off:
/// every handshake shows the certificate the server presents now.
pub fn client_config(
    verifier: Arc<RecordingVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ClientConfig, VerifierError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| VerifierError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}
