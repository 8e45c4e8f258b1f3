//! Name checks for `DANE-TA` (RFC 7672 §3.2.2, §3.2.3): which names the
//! server certificate must carry, and how a name in it is matched.
//!
//! `DANE-EE` has no name check at all (RFC 7672 §3.1.1).

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

/// The reference identifiers a `DANE-TA` chain's leaf is checked against
/// (RFC 7672 §3.2.2): the TLSA base domain (where the TLSA records were
/// found, after a secure CNAME, RFC 7672 §2.2.3) first, then the MX host
/// name when it differs. Names are kept in lower case without a final dot;
/// any one of them is enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceIdentifiers {
    names: Vec<String>,
}

impl ReferenceIdentifiers {
    /// The identifiers for an MX host whose TLSA records were found at
    /// `_25._tcp.<tlsa_base_domain>` (both names in ASCII, A-labels for
    /// IDNs).
    pub fn new(tlsa_base_domain: &str, mx_host: &str) -> ReferenceIdentifiers {
        let mut names = vec![normalize(tlsa_base_domain)];
        let mx = normalize(mx_host);
        if !names.contains(&mx) {
            names.push(mx);
        }
        ReferenceIdentifiers { names }
    }

    /// The names, the TLSA base domain first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The first reference identifier the certificate is valid for, if any
    /// (RFC 7672 §3.2.3): its subjectAltName DNS names when it has any,
    /// else its subject common names.
    pub fn matched_by(&self, cert: &X509Certificate<'_>) -> Option<&str> {
        let presented = presented_names(cert);
        self.names
            .iter()
            .find(|reference| presented.iter().any(|p| name_matches(p, reference)))
            .map(String::as_str)
    }
}

/// Lower case, without one final dot.
fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The names a certificate presents (RFC 7672 §3.2.3): the DNS-IDs of its
/// subjectAltName, or, only when it has none, its CN-IDs (RFC 6125 §6.4.4).
/// A certificate whose subjectAltName does not parse (or is there twice)
/// presents no name at all: its common name does not stand in for it.
fn presented_names<'a>(cert: &'a X509Certificate<'a>) -> Vec<&'a str> {
    let dns_ids: Vec<&str> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(*dns),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(_) => return Vec::new(),
    };
    if !dns_ids.is_empty() {
        return dns_ids;
    }
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .collect()
}

/// Whether the presented name `presented` matches the reference identifier
/// `reference` (lower case, no final dot), as RFC 7672 §3.2.3 allows:
/// equal ignoring ASCII case and one final dot, or a wildcard `*` that is the
/// whole left-most label and stands for exactly one non-empty label of the
/// reference (`*.example.com` matches `mx.example.com`, not `example.com`
/// nor `a.mx.example.com`). Partial-label wildcards (`mx*.example.com`) and
/// wildcards over fewer than two labels (`*.com`) match nothing.
pub fn name_matches(presented: &str, reference: &str) -> bool {
    let presented = normalize(presented);
    if presented.is_empty() || reference.is_empty() {
        return false;
    }
    match presented.strip_prefix("*.") {
        None => !presented.contains('*') && presented == reference,
        Some(base) => {
            if base.contains('*') || base.split('.').count() < 2 {
                return false;
            }
            match reference.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest == base,
                None => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_match_ignoring_case_and_final_dot() {
        assert!(name_matches("MX1.Example.COM.", "mx1.example.com"));
        assert!(!name_matches("mx2.example.com", "mx1.example.com"));
        assert!(!name_matches("", "mx1.example.com"));
    }

    #[test]
    fn a_wildcard_is_one_whole_left_most_label() {
        assert!(name_matches("*.example.com", "mx1.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.mx1.example.com"));
        assert!(!name_matches("mx*.example.com", "mx1.example.com"));
        assert!(!name_matches("*.*.com", "a.b.com"));
        assert!(!name_matches("mx1.*.com", "mx1.example.com"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(!name_matches("*", "example"));
    }

    #[test]
    fn reference_identifiers_are_the_base_domain_then_the_mx_host() {
        let ids = ReferenceIdentifiers::new("MX.Provider.example.", "mx.customer.example");
        assert_eq!(ids.names(), ["mx.provider.example", "mx.customer.example"]);
        let same = ReferenceIdentifiers::new("mx.example", "MX.example.");
        assert_eq!(same.names(), ["mx.example"]);
    }
}
