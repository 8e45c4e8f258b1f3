//! The test certificate authority (rcgen): the CA whose PEM the exporter is
//! told to trust, and the leaf certificates, good and bad, that the fake
//! policy and MX hosts present.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// The test certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// One key for every leaf certificate (generating a key per host would
    /// dominate the start of a 100,000-domain world).
    leaf_key: KeyPair,
    /// The CA certificate in PEM, for `tls.ca_file`.
    pub pem: String,
    /// The CA certificate in DER (DANE-TA records name it).
    pub der: Vec<u8>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

/// Which certificate a policy or MX host presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Issued by the test CA for the host, valid now.
    Valid,
    /// Issued by the test CA for the host, expired ten days ago.
    Expired,
    /// Issued by the test CA for the host, valid from ten days on.
    NotYetValid,
    /// Issued by the test CA, valid now, for another name.
    WrongHost,
    /// Self-signed: not from any trusted CA.
    SelfSigned,
    /// Issued by the test CA for the host, valid now, expiring in 5 days.
    ExpiringSoon,
    /// [`CertKind::Valid`], sent with the CA certificate after the leaf
    /// (what a `2 x x` DANE-TA record for the CA needs, RFC 7672 §3.1.2).
    ValidWithIssuer,
    /// [`CertKind::Valid`] with a key of its own, not the shared leaf key
    /// (a server whose key changed).
    NewKey,
}

impl TestCa {
    /// Makes a fresh CA.
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mtasts-exporter test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA cert");
        TestCa {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
            leaf_key: KeyPair::generate().expect("leaf key"),
        }
    }

    /// Issues a certificate for `names` (DNS names or IP addresses) and
    /// returns it and its key in PEM, for servers outside this module.
    pub fn issue_pem(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "mtasts-exporter test server");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    /// Issues a certificate of `kind` for `host`.
    pub fn certified_key(&self, host: &str, kind: CertKind) -> Arc<CertifiedKey> {
        let names = match kind {
            CertKind::WrongHost => vec!["other-host.invalid".to_string()],
            _ => vec![host.to_string()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, host);
        (params.not_before, params.not_after) = validity(kind);
        let new_key;
        let key = if kind == CertKind::NewKey {
            new_key = KeyPair::generate().expect("new leaf key");
            &new_key
        } else {
            &self.leaf_key
        };
        let cert = match kind {
            CertKind::SelfSigned => params.self_signed(key),
            _ => params.signed_by(key, &self.issuer),
        }
        .expect("leaf cert");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut chain = vec![cert.der().clone()];
        if kind == CertKind::ValidWithIssuer {
            chain.push(self.der.clone().into());
        }
        Arc::new(
            CertifiedKey::from_der(chain, key_der, &rustls::crypto::ring::default_provider())
                .expect("certified key"),
        )
    }
}

/// The validity period (not before, not after) of a leaf of `kind`.
fn validity(kind: CertKind) -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    let days = time::Duration::days;
    match kind {
        CertKind::Expired => (now - days(100), now - days(10)),
        CertKind::NotYetValid => (now + days(10), now + days(100)),
        CertKind::ExpiringSoon => (now - days(80), now + days(5)),
        _ => (now - days(1), now + days(90)),
    }
}

/// A TLS acceptor (ring, safe default versions, no client auth) presenting
/// what `certs` picks: shared by the policy and the MX hosts.
pub fn tls_acceptor(certs: Arc<dyn ResolvesServerCert>) -> tokio_rustls::TlsAcceptor {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_cert_resolver(certs);
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
