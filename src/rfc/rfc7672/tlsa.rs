//! The TLSA record as plain data (RFC 6698 §2.1), its presentation form
//! `u s m hex` (RFC 6698 §2.2) and the RFC 7218 names of its three numbers.

use std::fmt;

/// Longest association data accepted, in bytes: what fits in one TLSA RDATA
/// (RFC 1035 §3.2.1 RDLENGTH is 16 bits; three octets go to the numbers). A
/// longer presentation string is no record that DNS could carry.
pub const MAX_DATA_LEN: usize = 65_535 - 3;

/// Characters of a bad field repeated in an error: hostile input is not
/// echoed whole.
const MAX_ECHO: usize = 16;

/// One TLSA record (RFC 6698 §2.1): certificate usage, selector, matching
/// type and certificate association data. The numbers are kept as received,
/// so that records a sender cannot use are still shown as they are
/// (see [`Tlsa::usable`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    /// Certificate usage (RFC 6698 §2.1.1; names in [`CertUsage`]).
    pub usage: u8,
    /// Selector (RFC 6698 §2.1.2; names in [`Selector`]).
    pub selector: u8,
    /// Matching type (RFC 6698 §2.1.3; names in [`MatchingType`]).
    pub matching: u8,
    /// Certificate association data (RFC 6698 §2.1.4): the certificate or
    /// SubjectPublicKeyInfo, whole or as a digest.
    pub data: Vec<u8>,
}

/// Certificate usages, with their RFC 7218 §2.1 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertUsage {
    /// 0 `PKIX-TA`: unusable for SMTP (RFC 7672 §3.1.3).
    PkixTa,
    /// 1 `PKIX-EE`: unusable for SMTP (RFC 7672 §3.1.3).
    PkixEe,
    /// 2 `DANE-TA`: a trust anchor the server's chain must lead to
    /// (RFC 7672 §3.1.2).
    DaneTa,
    /// 3 `DANE-EE`: the server's own certificate or key (RFC 7672 §3.1.1).
    DaneEe,
}

impl CertUsage {
    /// The usage with this number, if RFC 6698 §7.2 defines one.
    pub fn from_u8(value: u8) -> Option<CertUsage> {
        match value {
            0 => Some(CertUsage::PkixTa),
            1 => Some(CertUsage::PkixEe),
            2 => Some(CertUsage::DaneTa),
            3 => Some(CertUsage::DaneEe),
            _ => None,
        }
    }

    /// The RFC 7218 §2.1 name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertUsage::PkixTa => "PKIX-TA",
            CertUsage::PkixEe => "PKIX-EE",
            CertUsage::DaneTa => "DANE-TA",
            CertUsage::DaneEe => "DANE-EE",
        }
    }
}

/// Selectors, with their RFC 7218 §2.2 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// 0 `Cert`: the full certificate (its DER).
    Cert,
    /// 1 `SPKI`: the certificate's SubjectPublicKeyInfo (its DER).
    Spki,
}

impl Selector {
    /// The selector with this number, if RFC 6698 §7.3 defines one.
    pub fn from_u8(value: u8) -> Option<Selector> {
        match value {
            0 => Some(Selector::Cert),
            1 => Some(Selector::Spki),
            _ => None,
        }
    }

    /// The RFC 7218 §2.2 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Selector::Cert => "Cert",
            Selector::Spki => "SPKI",
        }
    }
}

/// Matching types, with their RFC 7218 §2.3 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchingType {
    /// 0 `Full`: the selected content itself.
    Full,
    /// 1 `SHA2-256`: its SHA-256 digest (32 bytes).
    Sha256,
    /// 2 `SHA2-512`: its SHA-512 digest (64 bytes).
    Sha512,
}

impl MatchingType {
    /// The matching type with this number, if RFC 6698 §7.4 defines one.
    pub fn from_u8(value: u8) -> Option<MatchingType> {
        match value {
            0 => Some(MatchingType::Full),
            1 => Some(MatchingType::Sha256),
            2 => Some(MatchingType::Sha512),
            _ => None,
        }
    }

    /// The RFC 7218 §2.3 name.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchingType::Full => "Full",
            MatchingType::Sha256 => "SHA2-256",
            MatchingType::Sha512 => "SHA2-512",
        }
    }

    /// The length of the digest, or `None` for `Full` (RFC 6698 §2.1.3).
    pub fn digest_len(self) -> Option<usize> {
        match self {
            MatchingType::Full => None,
            MatchingType::Sha256 => Some(32),
            MatchingType::Sha512 => Some(64),
        }
    }
}

/// Why a presentation string is no TLSA record (RFC 6698 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsaParseError {
    /// Fewer than four fields.
    #[error("TLSA record needs `usage selector matching-type data`, {0} is missing")]
    MissingField(&'static str),
    /// A number field that is not a decimal from 0 to 255.
    #[error("TLSA {field} must be a number from 0 to 255, got {value:?}")]
    BadNumber {
        /// Which field.
        field: &'static str,
        /// The field as written (cut short).
        value: String,
    },
    /// A character in the association data that is not a hex digit.
    #[error("TLSA association data must be hex digits, got {0:?}")]
    BadHex(char),
    /// An odd number of hex digits.
    #[error("TLSA association data has an odd number of hex digits")]
    OddHex,
    /// More association data than one record can carry.
    #[error("TLSA association data longer than {MAX_DATA_LEN} bytes")]
    TooLong,
}

impl Tlsa {
    /// Parses the presentation form `usage selector matching-type data`
    /// (RFC 6698 §2.2): three decimal numbers from 0 to 255, then the
    /// association data in hex (either case), which may be split by white
    /// space. The RFC 7218 mnemonics are not accepted in place of the
    /// numbers (RFC 7218 §2 names them for people, not for zone files).
    pub fn parse(text: &str) -> Result<Tlsa, TlsaParseError> {
        let mut fields = text.split_ascii_whitespace();
        let usage = number(fields.next(), "usage")?;
        let selector = number(fields.next(), "selector")?;
        let matching = number(fields.next(), "matching type")?;
        let mut data = Vec::new();
        let mut high: Option<u8> = None;
        let mut digits = 0usize;
        for field in fields {
            for c in field.chars() {
                let nibble = c.to_digit(16).ok_or(TlsaParseError::BadHex(c))? as u8;
                digits += 1;
                match high.take() {
                    None => high = Some(nibble),
                    Some(h) => {
                        if data.len() == MAX_DATA_LEN {
                            return Err(TlsaParseError::TooLong);
                        }
                        data.push(h << 4 | nibble);
                    }
                }
            }
        }
        if digits == 0 {
            return Err(TlsaParseError::MissingField("association data"));
        }
        if high.is_some() {
            return Err(TlsaParseError::OddHex);
        }
        Ok(Tlsa {
            usage,
            selector,
            matching,
            data,
        })
    }

    /// The usage by name, if defined.
    pub fn cert_usage(&self) -> Option<CertUsage> {
        CertUsage::from_u8(self.usage)
    }

    /// The selector by name, if defined.
    pub fn selector_kind(&self) -> Option<Selector> {
        Selector::from_u8(self.selector)
    }

    /// The matching type by name, if defined.
    pub fn matching_type(&self) -> Option<MatchingType> {
        MatchingType::from_u8(self.matching)
    }
}

/// One of the three numbers: 1 to 3 ASCII digits, at most 255.
fn number(field: Option<&str>, name: &'static str) -> Result<u8, TlsaParseError> {
    let field = field.ok_or(TlsaParseError::MissingField(name))?;
    let bad = || TlsaParseError::BadNumber {
        field: name,
        value: field.chars().take(MAX_ECHO).collect(),
    };
    if field.is_empty() || field.len() > 3 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    field.parse::<u8>().map_err(|_| bad())
}

/// The presentation form (RFC 6698 §2.2): `3 1 1 0a1b…`, data in lower-case
/// hex without spaces, so that [`Tlsa::parse`] reads it back unchanged. A
/// record without data (the wire format allows it; no usable record has
/// it) prints no hex, and that does not parse back.
impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        for byte in &self.data {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Serialized as its presentation form (for the `check` JSON).
impl serde::Serialize for Tlsa {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_presentation_form() {
        let record = Tlsa::parse("3 1 1 0A0b 0c\t0d").unwrap();
        assert_eq!(
            record,
            Tlsa {
                usage: 3,
                selector: 1,
                matching: 1,
                data: vec![0x0a, 0x0b, 0x0c, 0x0d]
            }
        );
        assert_eq!(record.to_string(), "3 1 1 0a0b0c0d");
        assert_eq!(record.cert_usage(), Some(CertUsage::DaneEe));
        assert_eq!(record.selector_kind(), Some(Selector::Spki));
        assert_eq!(record.matching_type(), Some(MatchingType::Sha256));
        // Undefined numbers are kept: the record is shown, just not usable.
        let odd = Tlsa::parse("255 7 9 ff").unwrap();
        assert_eq!(
            (odd.cert_usage(), odd.selector_kind(), odd.matching_type()),
            (None, None, None)
        );
    }

    #[test]
    fn refuses_what_is_no_record() {
        assert_eq!(Tlsa::parse(""), Err(TlsaParseError::MissingField("usage")));
        assert_eq!(
            Tlsa::parse("3 1 1"),
            Err(TlsaParseError::MissingField("association data"))
        );
        assert!(matches!(
            Tlsa::parse("256 1 1 00"),
            Err(TlsaParseError::BadNumber { field: "usage", .. })
        ));
        assert!(matches!(
            Tlsa::parse("DANE-EE 1 1 00"),
            Err(TlsaParseError::BadNumber { field: "usage", .. })
        ));
        assert!(matches!(
            Tlsa::parse("3 +1 1 00"),
            Err(TlsaParseError::BadNumber {
                field: "selector",
                ..
            })
        ));
        assert_eq!(Tlsa::parse("3 1 1 0g"), Err(TlsaParseError::BadHex('g')));
        assert_eq!(Tlsa::parse("3 1 1 abc"), Err(TlsaParseError::OddHex));
        let long = format!("3 0 0 {}", "ab".repeat(MAX_DATA_LEN + 1));
        assert_eq!(Tlsa::parse(&long), Err(TlsaParseError::TooLong));
    }

    #[test]
    fn a_bad_number_is_echoed_cut_short() {
        let text = format!("{} 1 1 00", "9".repeat(10_000));
        let Err(TlsaParseError::BadNumber { value, .. }) = Tlsa::parse(&text) else {
            panic!("expected a bad number");
        };
        assert_eq!(value.len(), MAX_ECHO);
    }

    #[test]
    fn serializes_as_presentation_form() {
        let record = Tlsa::parse("2 0 1 ff").unwrap();
        assert_eq!(serde_json::to_string(&record).unwrap(), "\"2 0 1 ff\"");
    }
}
