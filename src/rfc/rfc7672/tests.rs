//! The RFC 7672 rules against real certificate chains made with rcgen (as
//! `tests/support/ca.rs` makes the fake world's): `DANE-EE` and `DANE-TA`
//! matching, name checks, unusable records, rollover readiness, and the
//! parser's properties.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use std::time::{SystemTime, UNIX_EPOCH};

/// A certificate authority: its certificate (DER) and what it signs with.
struct Ca {
    der: Vec<u8>,
    spki: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

impl Ca {
    /// A self-signed root.
    fn root(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            der: cert.der().to_vec(),
            spki: key.subject_public_key_info(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by `self`.
    fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Ca {
            der: cert.der().to_vec(),
            spki: key.subject_public_key_info(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (subjectAltName DNS names; none: only a CN) with
    /// `key`, valid from `days.0` to `days.1` days from now.
    fn leaf_with(&self, names: &[&str], cn: &str, key: &KeyPair, days: (i64, i64)) -> Vec<u8> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        params.signed_by(key, &self.issuer).unwrap().der().to_vec()
    }

    /// A leaf valid now for `names`.
    fn leaf(&self, names: &[&str], key: &KeyPair) -> Vec<u8> {
        self.leaf_with(names, "mtasts-exporter test server", key, (-1, 90))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn sha512(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA512, data)
        .as_ref()
        .to_vec()
}

fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
    Tlsa {
        usage,
        selector,
        matching,
        data,
    }
}

const MX: &str = "mx1.example.net";

fn ids() -> ReferenceIdentifiers {
    ReferenceIdentifiers::new(MX, MX)
}

fn verify(records: &[Tlsa], chain: &[Vec<u8>]) -> DaneVerdict {
    verify_chain(records, chain, &ids(), now())
}

fn verified(
    record: usize,
    usage: DaneUsage,
    matched: MatchedCert,
    name: Option<&str>,
) -> DaneVerdict {
    DaneVerdict::Verified(DaneMatch {
        record,
        usage,
        matched,
        name: name.map(str::to_string),
    })
}

fn ee(record: usize) -> DaneVerdict {
    verified(record, DaneUsage::DaneEe, MatchedCert::Chain(0), None)
}

// ---- DANE-EE (RFC 7672 §3.1.1) ----

#[test]
fn dane_ee_3_1_1_matches_the_leaf_key_and_not_a_new_one() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key)];
    let records = [tlsa(3, 1, 1, sha256(&key.subject_public_key_info()))];
    assert_eq!(verify(&records, &chain), ee(0));
    assert_eq!(verify(&records, &chain).reason(), None);

    // The same key in a renewed certificate still matches 3 1 1.
    let renewed = vec![ca.leaf(&[MX], &key)];
    assert_ne!(renewed, chain);
    assert_eq!(verify(&records, &renewed), ee(0));

    // A new key, the records left behind: mismatch.
    let new_key = KeyPair::generate().unwrap();
    let rekeyed = vec![ca.leaf(&[MX], &new_key)];
    let verdict = verify(&records, &rekeyed);
    assert_eq!(verdict, DaneVerdict::Failed(DaneFailure::Mismatch));
    assert_eq!(verdict.reason(), Some(DaneReason::TlsaMismatch));
    assert_eq!(
        verdict.reason().map(|r| r.result_type().as_str()),
        Some("tlsa-invalid")
    );
}

#[test]
fn dane_ee_3_0_1_matches_the_whole_certificate() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key)];
    let records = [tlsa(3, 0, 1, sha256(&chain[0]))];
    assert_eq!(verify(&records, &chain), ee(0));
    // A renewal with the same key is another certificate: 3 0 1 breaks.
    let renewed = vec![ca.leaf(&[MX], &key)];
    assert_eq!(
        verify(&records, &renewed),
        DaneVerdict::Failed(DaneFailure::Mismatch)
    );
}

#[test]
fn dane_ee_3_1_2_and_3_0_0() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key)];
    let spki = key.subject_public_key_info();
    assert_eq!(verify(&[tlsa(3, 1, 2, sha512(&spki))], &chain), ee(0));
    assert_eq!(verify(&[tlsa(3, 0, 0, chain[0].clone())], &chain), ee(0));
    assert_eq!(verify(&[tlsa(3, 1, 0, spki.clone())], &chain), ee(0));
    assert_eq!(verify(&[tlsa(3, 0, 2, sha512(&chain[0]))], &chain), ee(0));
    // A digest of the other selector's content does not match.
    assert_eq!(
        verify(&[tlsa(3, 0, 2, sha512(&spki))], &chain),
        DaneVerdict::Failed(DaneFailure::Mismatch)
    );
}

#[test]
fn dane_ee_checks_no_name_no_expiry_and_no_issuer() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    // Expired, for another name, and its issuer not sent nor named.
    let chain = vec![ca.leaf_with(&["other.example.org"], "other", &key, (-100, -10))];
    let records = [tlsa(3, 1, 1, sha256(&key.subject_public_key_info()))];
    assert_eq!(verify(&records, &chain), ee(0));
}

#[test]
fn any_usable_record_that_matches_is_enough() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), ca.der.clone()];
    let records = [
        tlsa(3, 1, 1, sha256(b"an old key")),
        tlsa(1, 1, 1, sha256(&key.subject_public_key_info())),
        tlsa(2, 1, 1, sha256(&ca.spki)),
    ];
    assert_eq!(
        verify(&records, &chain),
        verified(2, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(MX))
    );
}

// ---- DANE-TA (RFC 7672 §3.1.2, §3.2) ----

#[test]
fn dane_ta_2_1_1_matches_the_issuer_with_the_name_check() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), ca.der.clone()];
    let records = [tlsa(2, 1, 1, sha256(&ca.spki))];
    assert_eq!(
        verify(&records, &chain),
        verified(0, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(MX))
    );
    // The same with 2 0 1 (the issuer's whole certificate).
    assert_eq!(
        verify(&[tlsa(2, 0, 1, sha256(&ca.der))], &chain),
        verified(0, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(MX))
    );
}

#[test]
fn dane_ta_name_check_fails_for_a_wrong_name() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&["mx2.example.net"], &key), ca.der.clone()];
    let records = [tlsa(2, 1, 1, sha256(&ca.spki))];
    let verdict = verify(&records, &chain);
    assert_eq!(
        verdict,
        DaneVerdict::Failed(DaneFailure::TaHostMismatch { record: 0 })
    );
    assert_eq!(verdict.reason(), Some(DaneReason::DaneTaHostMismatch));
    assert_eq!(
        verdict.reason().map(|r| r.result_type().as_str()),
        Some("certificate-host-mismatch")
    );
}

#[test]
fn dane_ta_accepts_a_wildcard_for_exactly_one_label() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&["*.example.net"], &key), ca.der.clone()];
    let records = [tlsa(2, 1, 1, sha256(&ca.spki))];
    assert_eq!(
        verify(&records, &chain),
        verified(0, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(MX))
    );
    let deeper = ReferenceIdentifiers::new("a.mx1.example.net", "a.mx1.example.net");
    assert_eq!(
        verify_chain(&records, &chain, &deeper, now()),
        DaneVerdict::Failed(DaneFailure::TaHostMismatch { record: 0 })
    );
}

#[test]
fn dane_ta_reference_identifiers_are_the_base_domain_and_the_mx_host() {
    // The MX host is a CNAME to the provider's host, where the TLSA records
    // are: either name in the certificate passes.
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let records = [tlsa(2, 1, 1, sha256(&ca.spki))];
    let names = ReferenceIdentifiers::new("mx.provider.example", "mx.customer.example");
    for (cert_name, expected) in [
        ("mx.provider.example", "mx.provider.example"),
        ("mx.customer.example", "mx.customer.example"),
    ] {
        let chain = vec![ca.leaf(&[cert_name], &key), ca.der.clone()];
        assert_eq!(
            verify_chain(&records, &chain, &names, now()),
            verified(0, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(expected))
        );
    }
    let chain = vec![ca.leaf(&["mx.elsewhere.example"], &key), ca.der.clone()];
    assert_eq!(
        verify_chain(&records, &chain, &names, now()),
        DaneVerdict::Failed(DaneFailure::TaHostMismatch { record: 0 })
    );
}

#[test]
fn dane_ta_falls_back_to_the_common_name_only_without_dns_names() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let records = [tlsa(2, 1, 1, sha256(&ca.spki))];
    let cn_only = vec![ca.leaf_with(&[], MX, &key, (-1, 90)), ca.der.clone()];
    assert_eq!(
        verify(&records, &cn_only),
        verified(0, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(MX))
    );
    // With a DNS name present, the CN is not looked at.
    let both = vec![
        ca.leaf_with(&["other.example.net"], MX, &key, (-1, 90)),
        ca.der.clone(),
    ];
    assert_eq!(
        verify(&records, &both),
        DaneVerdict::Failed(DaneFailure::TaHostMismatch { record: 0 })
    );
}

#[test]
fn dane_ta_a_broken_subject_alt_name_is_not_replaced_by_the_common_name() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, MX);
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &[2, 5, 29, 17],
            vec![0x04, 0x00],
        ));
    let leaf = params.signed_by(&key, &ca.issuer).unwrap().der().to_vec();
    let verdict = verify(&[tlsa(2, 1, 1, sha256(&ca.spki))], &[leaf, ca.der.clone()]);
    assert!(
        matches!(
            verdict,
            DaneVerdict::Failed(
                DaneFailure::TaHostMismatch { .. } | DaneFailure::TaChainInvalid { .. }
            )
        ),
        "{verdict:?}"
    );
}

#[test]
fn dane_ta_checks_expiry_below_the_anchor() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf_with(&[MX], "x", &key, (-100, -10)), ca.der.clone()];
    let verdict = verify(&[tlsa(2, 1, 1, sha256(&ca.spki))], &chain);
    assert!(
        matches!(
            verdict,
            DaneVerdict::Failed(DaneFailure::TaCertExpired { record: 0, .. })
        ),
        "{verdict:?}"
    );
    assert_eq!(verdict.reason(), Some(DaneReason::DaneTaCertExpired));
    let DaneVerdict::Failed(failure) = verdict else {
        unreachable!()
    };
    assert!(
        failure
            .to_string()
            .starts_with("TLSA record 0 (DANE-TA) matched, but a certificate is expired"),
        "{failure}"
    );
}

#[test]
fn dane_ta_needs_the_leaf_to_chain_to_the_anchor() {
    // The server sends a CA it was not issued by, and the record names it.
    let ca = Ca::root("CA");
    let other = Ca::root("Other CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), other.der.clone()];
    let verdict = verify(&[tlsa(2, 1, 1, sha256(&other.spki))], &chain);
    assert!(
        matches!(
            verdict,
            DaneVerdict::Failed(DaneFailure::TaChainInvalid { record: 0, .. })
        ),
        "{verdict:?}"
    );
    assert_eq!(
        verdict.reason().map(|r| r.result_type().as_str()),
        Some("certificate-not-trusted")
    );
    // A record for an issuer the server does not send matches nothing.
    let leaf_only = vec![ca.leaf(&[MX], &key)];
    assert_eq!(
        verify(&[tlsa(2, 1, 1, sha256(&ca.spki))], &leaf_only),
        DaneVerdict::Failed(DaneFailure::Mismatch)
    );
}

#[test]
fn dane_ta_through_an_intermediate() {
    let root = Ca::root("Root");
    let intermediate = root.intermediate("Intermediate");
    let key = KeyPair::generate().unwrap();
    let chain = vec![
        intermediate.leaf(&[MX], &key),
        intermediate.der.clone(),
        root.der.clone(),
    ];
    assert_eq!(
        verify(&[tlsa(2, 1, 1, sha256(&root.spki))], &chain),
        verified(0, DaneUsage::DaneTa, MatchedCert::Chain(2), Some(MX))
    );
    assert_eq!(
        verify(&[tlsa(2, 1, 1, sha256(&intermediate.spki))], &chain),
        verified(0, DaneUsage::DaneTa, MatchedCert::Chain(1), Some(MX))
    );
    // Without the intermediate the root cannot be reached.
    let gap = vec![intermediate.leaf(&[MX], &key), root.der.clone()];
    assert!(matches!(
        verify(&[tlsa(2, 1, 1, sha256(&root.spki))], &gap),
        DaneVerdict::Failed(DaneFailure::TaChainInvalid { .. })
    ));
}

#[test]
fn dane_ta_2_0_0_carries_the_anchor_the_server_left_out() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key)];
    assert_eq!(
        verify(&[tlsa(2, 0, 0, ca.der.clone())], &chain),
        verified(0, DaneUsage::DaneTa, MatchedCert::Record, Some(MX))
    );
}

#[test]
fn dane_ta_matching_only_the_leaf_is_no_match() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), ca.der.clone()];
    for record in [
        tlsa(2, 1, 1, sha256(&key.subject_public_key_info())),
        tlsa(2, 0, 0, chain[0].clone()),
    ] {
        assert_eq!(
            verify(&[record], &chain),
            DaneVerdict::Failed(DaneFailure::Mismatch)
        );
    }
}

// ---- unusable records (RFC 7672 §2.2, §3.1.3) ----

#[test]
fn only_unusable_records_mean_tls_required_not_verified() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), ca.der.clone()];
    let spki_digest = sha256(&key.subject_public_key_info());
    // Each would match the leaf if it were usable.
    let records = [
        tlsa(1, 1, 1, spki_digest.clone()),
        tlsa(3, 2, 1, spki_digest.clone()),
        tlsa(3, 1, 1, spki_digest[..31].to_vec()),
        tlsa(3, 1, 2, spki_digest.clone()),
        tlsa(0, 1, 1, sha256(&ca.spki)),
    ];
    assert_eq!(set_status(&records), TlsaSetStatus::TlsRequiredNotVerified);
    let verdict = verify(&records, &chain);
    assert_eq!(verdict, DaneVerdict::TlsRequiredNotVerified);
    assert_eq!(verdict.reason(), Some(DaneReason::AllUnusableRecords));
    assert_eq!(
        verdict.reason().map(|r| r.result_type().as_str()),
        Some("tlsa-invalid")
    );
    assert_eq!(verify(&[], &chain), DaneVerdict::NoRecords);
    assert_eq!(verify(&[], &chain).reason(), None);
}

#[test]
fn hostile_chains_are_a_mismatch_not_a_panic() {
    let records = [
        tlsa(3, 1, 1, vec![0; 32]),
        tlsa(2, 0, 0, b"not a certificate".to_vec()),
        tlsa(2, 1, 2, vec![0; 64]),
    ];
    let mismatch = DaneVerdict::Failed(DaneFailure::Mismatch);
    assert_eq!(verify(&records, &[]), mismatch);
    let garbage = vec![vec![0x30, 0x82, 0xff], vec![], b"junk".to_vec()];
    assert!(matches!(verify(&records, &garbage), DaneVerdict::Failed(_)));
    // A chain longer than anything real is cut, not walked.
    let long = vec![vec![0u8; 10]; 10_000];
    assert!(matches!(verify(&records, &long), DaneVerdict::Failed(_)));
}

// ---- rollover readiness ----

#[test]
fn rollover_ready_with_a_second_dane_ee_record_for_the_next_key() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let next = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key)];
    let records = [
        tlsa(3, 1, 1, sha256(&key.subject_public_key_info())),
        tlsa(3, 1, 1, sha256(&next.subject_public_key_info())),
    ];
    assert_eq!(
        rollover_readiness(&records, &chain),
        RolloverReadiness::Ready(ReadyBy::NextKey { record: 1 })
    );
    // And the new key does match after the change.
    let rekeyed = vec![ca.leaf(&[MX], &next)];
    assert_eq!(verify(&records, &rekeyed), ee(1));
}

#[test]
fn rollover_ready_with_a_dane_ta_record_for_the_issuer() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), ca.der.clone()];
    let records = [
        tlsa(3, 1, 1, sha256(&key.subject_public_key_info())),
        tlsa(2, 1, 1, sha256(&ca.spki)),
    ];
    assert_eq!(
        rollover_readiness(&records, &chain),
        RolloverReadiness::Ready(ReadyBy::TrustAnchor { record: 1 })
    );
    // A 2 0 0 record holding the issuer counts even when it is not sent.
    let leaf_only = vec![chain[0].clone()];
    assert_eq!(
        rollover_readiness(&[tlsa(2, 0, 0, ca.der.clone())], &leaf_only),
        RolloverReadiness::Ready(ReadyBy::TrustAnchor { record: 0 })
    );
}

#[test]
fn rollover_not_ready_when_every_record_matches_only_the_current_leaf() {
    let ca = Ca::root("CA");
    let key = KeyPair::generate().unwrap();
    let chain = vec![ca.leaf(&[MX], &key), ca.der.clone()];
    let spki = key.subject_public_key_info();
    let one = [tlsa(3, 1, 1, sha256(&spki))];
    assert_eq!(
        rollover_readiness(&one, &chain),
        RolloverReadiness::NotReady
    );
    // Two records for the same leaf, and an unusable one: still not ready.
    let same_leaf = [
        tlsa(3, 1, 1, sha256(&spki)),
        tlsa(3, 0, 1, sha256(&chain[0])),
        tlsa(1, 1, 1, sha256(b"next key, but PKIX-EE")),
    ];
    assert_eq!(
        rollover_readiness(&same_leaf, &chain),
        RolloverReadiness::NotReady
    );
    // Nothing matches now: a failure, not a rollover question.
    let stale = [tlsa(3, 1, 1, sha256(b"an old key"))];
    assert_eq!(
        rollover_readiness(&stale, &chain),
        RolloverReadiness::NotApplicable
    );
    assert_eq!(
        rollover_readiness::<Vec<u8>>(&one, &[]),
        RolloverReadiness::NotApplicable
    );
}

// ---- properties of the presentation form and of matching ----

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_tlsa() -> impl Strategy<Value = Tlsa> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 1..200),
        )
            .prop_map(|(usage, selector, matching, data)| Tlsa {
                usage,
                selector,
                matching,
                data,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parser_never_panics(text in "\\PC{0,300}") {
            let _ = Tlsa::parse(&text);
        }

        #[test]
        fn parser_never_panics_on_near_records(
            text in "[0-9 ]{0,12}[0-9a-fA-FxG \\t]{0,80}",
        ) {
            if let Ok(record) = Tlsa::parse(&text) {
                prop_assert_eq!(Tlsa::parse(&record.to_string()), Ok(record));
            }
        }

        #[test]
        fn printing_then_parsing_gives_the_record_back(record in any_tlsa()) {
            prop_assert_eq!(Tlsa::parse(&record.to_string()), Ok(record));
        }

        #[test]
        fn upper_case_and_split_hex_parse_the_same(record in any_tlsa(), split in 1usize..8) {
            let hex: String = record.data.iter().map(|b| format!("{b:02X}")).collect();
            let chunks: Vec<String> = hex
                .as_bytes()
                .chunks(split)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let text = format!("{} {} {} {}", record.usage, record.selector, record.matching, chunks.join(" "));
            prop_assert_eq!(Tlsa::parse(&text), Ok(record));
        }

        #[test]
        fn matching_never_panics_on_hostile_chains(
            records in proptest::collection::vec(any_tlsa(), 0..6),
            chain in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..4),
        ) {
            let names = ReferenceIdentifiers::new("mx.example", "mx.example");
            let verdict = verify_chain(&records, &chain, &names, 1_700_000_000);
            let ta_verified = matches!(
                &verdict,
                DaneVerdict::Verified(m) if m.usage == DaneUsage::DaneTa
            );
            prop_assert!(!ta_verified, "garbage verified as DANE-TA: {:?}", verdict);
            let _ = rollover_readiness(&records, &chain);
        }
    }
}
