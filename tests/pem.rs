//! PEM files the operator supplies (`tls.ca_file`, the web config's
//! `cert_file`/`key_file`) are read with rustls-pki-types' PEM parser: good
//! files load, broken ones fail at start-up with the file and the problem.

use mtasts_exporter::config::web::WebConfig;
use mtasts_exporter::tls::{load_ca_file, TrustStoreError};
use std::path::Path;

/// A self-signed certificate for `localhost` and its PKCS#8 key, in PEM.
fn cert_and_key() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed cert");
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

const TRUNCATED: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n";

#[test]
fn ca_file_with_certificates_loads_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, _) = cert_and_key();
    let (two, _) = cert_and_key();
    let path = write(dir.path(), "ca.pem", &format!("{one}\n{two}"));
    let certs = load_ca_file(&path).expect("CA file loads");
    assert_eq!(certs.len(), 2);
}

#[test]
fn ca_file_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("truncated.pem", TRUNCATED, "invalid PEM"),
        ("empty.pem", "", "no CERTIFICATE block found"),
        (
            "key-only.pem",
            &cert_and_key().1,
            "no CERTIFICATE block found",
        ),
    ];
    for (name, text, problem) in cases {
        let path = write(dir.path(), name, text);
        let err = load_ca_file(&path).expect_err(name);
        assert!(matches!(err, TrustStoreError::CaFile { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        assert!(shown.contains(problem), "{name}: {shown}");
    }
    let missing = dir.path().join("absent.pem");
    let shown = load_ca_file(&missing).expect_err("missing").to_string();
    assert!(shown.contains("absent.pem"), "{shown}");
}

fn web_config(dir: &Path, cert: &str, key: &str) -> Result<WebConfig, String> {
    let cert_path = write(dir, "cert.pem", cert);
    let key_path = write(dir, "key.pem", key);
    let config = write(
        dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert_path.display(),
            key_path.display()
        ),
    );
    WebConfig::load(&config).map_err(|e| e.to_string())
}

#[test]
fn web_tls_loads_a_certificate_and_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = cert_and_key();
    let loaded = web_config(dir.path(), &cert, &key).expect("web config loads");
    assert!(loaded.tls.is_some());
}

#[test]
fn web_tls_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = cert_and_key();
    let cases = [
        (&cert[..], &cert[..], "key.pem: no private key"),
        (&cert[..], TRUNCATED, "key.pem: missing section end"),
        ("", &key[..], "cert.pem: no certificate"),
        (TRUNCATED, &key[..], "cert.pem: missing section end"),
    ];
    for (cert, key, problem) in cases {
        let Err(shown) = web_config(dir.path(), cert, key) else {
            panic!("{problem}: loaded");
        };
        assert!(shown.contains(problem), "{problem}: {shown}");
    }
}
