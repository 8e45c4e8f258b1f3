//! The policy served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! (RFC 8461 §3.2).

use super::mx::MxPattern;
use crate::rfc::abnf::is_ext_name;
use crate::rfc::domain::is_ascii_domain;

/// RFC 8461 §3.3: senders may limit the policy body; the reference client
/// (and this exporter) reads at most 64 KiB.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The largest `max_age` RFC 8461 §3.2 allows: one year, 31557600 seconds.
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// How senders apply the policy (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Senders refuse delivery to MX hosts that fail validation.
    Enforce,
    /// Senders deliver anyway but report failures (TLSRPT).
    Testing,
    /// The domain withdraws its policy.
    None,
}

impl Mode {
    /// Every mode, for exporting one series per value.
    pub const ALL: [Mode; 3] = [Mode::Enforce, Mode::Testing, Mode::None];

    /// The mode as written in a policy (`sts-policy-mode-value`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed MTA-STS policy (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `mode:`.
    pub mode: Mode,
    /// `max_age:` in seconds, 0 to 31557600.
    pub max_age: u64,
    /// `mx:` patterns in policy order.
    pub mx: Vec<MxPattern>,
    /// Extension fields (ignored by senders, kept for display).
    pub extensions: Vec<(String, String)>,
    /// `version`, `mode` or `max_age` written more than once: RFC 8461 §3.2
    /// says all but the first are ignored, but senders differ (some refuse
    /// the policy, some take the last value), so the repeats are kept here
    /// to be reported. In the order the fields first repeat.
    pub duplicate_fields: Vec<DuplicateField>,
}

/// A field other than `mx` that appears more than once in a policy
/// (RFC 8461 §3.2: "all entries except for the first SHALL be ignored").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateField {
    /// The field name: `version`, `mode` or `max_age`.
    pub field: &'static str,
    /// Every value written for it, in policy order; the first is the one
    /// that counts. At most [`MAX_DUPLICATE_VALUES`], each cut to
    /// [`MAX_DUPLICATE_VALUE_CHARS`] characters.
    pub values: Vec<String>,
}

impl DuplicateField {
    /// Whether a sender that takes another entry than the first (the last,
    /// say) would apply a different value.
    pub fn values_differ(&self) -> bool {
        self.values.iter().any(|value| *value != self.values[0])
    }
}

/// How many values of one repeated field are kept for the report; the
/// policy itself is bounded by [`MAX_POLICY_BYTES`], this bounds the report.
pub const MAX_DUPLICATE_VALUES: usize = 8;

/// How many characters of each repeated value are kept for the report.
pub const MAX_DUPLICATE_VALUE_CHARS: usize = 64;

/// A value as kept for the report: at most [`MAX_DUPLICATE_VALUE_CHARS`].
fn kept_value(value: &str) -> String {
    value.chars().take(MAX_DUPLICATE_VALUE_CHARS).collect()
}

/// Why a policy text does not parse; each variant names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The body is not UTF-8 (RFC 8461 §3.2: the policy is UTF-8 text).
    #[error("policy is not valid UTF-8")]
    NotUtf8,
    /// The body is empty.
    #[error("policy is empty")]
    Empty,
    /// A line has no `name:` field (this includes empty lines, which the
    /// ABNF does not allow between fields).
    #[error("line {line}: not a \"name: value\" field")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// A field name does not match `sts-policy-ext-name`.
    #[error("line {line}: invalid field name")]
    BadFieldName {
        /// 1-based line number.
        line: usize,
    },
    /// A field value has characters `sts-policy-ext-value` does not allow:
    /// a control character, or a tab between its words.
    #[error("line {line}: invalid characters in value")]
    BadValue {
        /// 1-based line number.
        line: usize,
    },
    /// A required field is missing.
    #[error("missing {0} field")]
    Missing(&'static str),
    /// `version` is not `STSv1`.
    #[error("version must be STSv1")]
    BadVersion,
    /// `mode` is not `enforce`, `testing` or `none`.
    #[error("mode must be enforce, testing or none")]
    BadMode,
    /// `max_age` is not 1 to 10 digits or above 31557600.
    #[error("max_age must be an integer from 0 to 31557600")]
    BadMaxAge,
    /// `mx` is not `["*."] Domain`.
    #[error("line {line}: mx must be a host name or *.host name")]
    BadMx {
        /// 1-based line number.
        line: usize,
    },
    /// Mode `enforce` or `testing` with no `mx` field.
    #[error("mode {0} requires at least one mx field")]
    NoMx(&'static str),
}

/// `sts-policy-vchar = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4` (RFC 8461 §3.2):
/// a visible ASCII character or any character beyond ASCII.
fn is_policy_vchar(c: char) -> bool {
    c.is_ascii_graphic() || !c.is_ascii()
}

/// `sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar)
/// sts-policy-vchar]` (RFC 8461 §3.2): visible characters with spaces
/// between them. A tab or other control character inside the value is not
/// allowed; leading and trailing white space belong to the delimiters and
/// are stripped before this check.
fn is_policy_ext_value(value: &str) -> bool {
    let (Some(first), Some(last)) = (value.chars().next(), value.chars().next_back()) else {
        return false;
    };
    is_policy_vchar(first)
        && is_policy_vchar(last)
        && value.chars().all(|c| c == ' ' || is_policy_vchar(c))
}

/// Keeps the first value of a field that must appear once, and records any
/// repeat in `duplicates` (RFC 8461 §3.2: all entries except for the first
/// are ignored).
fn keep_first<'a>(
    slot: &mut Option<&'a str>,
    field: &'static str,
    value: &'a str,
    duplicates: &mut Vec<DuplicateField>,
) {
    let Some(first) = *slot else {
        *slot = Some(value);
        return;
    };
    match duplicates.iter_mut().find(|d| d.field == field) {
        Some(duplicate) => {
            if duplicate.values.len() < MAX_DUPLICATE_VALUES {
                duplicate.values.push(kept_value(value));
            }
        }
        None => duplicates.push(DuplicateField {
            field,
            values: vec![kept_value(first), kept_value(value)],
        }),
    }
}

/// Parses a policy strictly by the RFC 8461 §3.2 ABNF.
///
/// ```text
/// sts-policy-record = sts-policy-field *WSP
///                     *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
/// sts-policy-term   = LF / CRLF
/// ```
///
/// Lines end in LF or CRLF (both valid, mixed too); one final line end is
/// optional; an empty line anywhere else is a syntax error, because the ABNF
/// has no production for it. Fields come in any order; `version`, `mode` and
/// `max_age` at least once, and when one is repeated the first counts and
/// the repeat is reported in [`Policy::duplicate_fields`] (RFC 8461 §3.2);
/// `mx` at least once unless mode is `none`; unknown fields that are well
/// formed are ignored (kept as extensions).
///
/// `max_age`: the ABNF allows `1*10(DIGIT)`, the prose caps it at 31557600.
/// We follow the prose as well, so a larger value is a syntax error: a sender
/// that honours the cap would otherwise cache the policy for less than the
/// operator believes.
///
/// One pass over the lines with the ABNF's rules in order; a little over 80
/// lines, kept whole so the grammar reads top to bottom.
pub fn parse_policy(body: &[u8]) -> Result<Policy, PolicyError> {
    let text = std::str::from_utf8(body).map_err(|_| PolicyError::NotUtf8)?;
    if text.is_empty() {
        return Err(PolicyError::Empty);
    }
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    let mut extensions = Vec::new();
    let mut duplicate_fields = Vec::new();
    for (index, raw_line) in text.split('\n').enumerate() {
        let line_number = index + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        // A lone CR inside a line is a control character: caught below.
        let Some((name, rest)) = line.split_once(':') else {
            return Err(PolicyError::MalformedLine { line: line_number });
        };
        // `sts-policy-field-delim = ":" *WSP`, and `*WSP` after the field.
        let value = rest.trim_matches(|c| c == ' ' || c == '\t');
        if !is_ext_name(name) {
            return Err(PolicyError::BadFieldName { line: line_number });
        }
        if !is_policy_ext_value(value) {
            return Err(PolicyError::BadValue { line: line_number });
        }
        match name {
            "version" => keep_first(&mut version, "version", value, &mut duplicate_fields),
            "mode" => keep_first(&mut mode, "mode", value, &mut duplicate_fields),
            "max_age" => keep_first(&mut max_age, "max_age", value, &mut duplicate_fields),
            "mx" => {
                let pattern =
                    parse_mx_pattern(value).ok_or(PolicyError::BadMx { line: line_number })?;
                mx.push(pattern);
            }
            _ => extensions.push((name.to_string(), value.to_string())),
        }
    }
    // `%s"STSv1"`, `%s"enforce"` ...: values are case-sensitive.
    match version {
        Some("STSv1") => {}
        Some(_) => return Err(PolicyError::BadVersion),
        None => return Err(PolicyError::Missing("version")),
    }
    let mode = match mode {
        Some("enforce") => Mode::Enforce,
        Some("testing") => Mode::Testing,
        Some("none") => Mode::None,
        Some(_) => return Err(PolicyError::BadMode),
        None => return Err(PolicyError::Missing("mode")),
    };
    let max_age = match max_age {
        Some(value) => parse_max_age(value).ok_or(PolicyError::BadMaxAge)?,
        None => return Err(PolicyError::Missing("max_age")),
    };
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::NoMx(mode.as_str()));
    }
    Ok(Policy {
        mode,
        max_age,
        mx,
        extensions,
        duplicate_fields,
    })
}

/// `sts-policy-max-age-value = 1*10(DIGIT)`, capped at [`MAX_AGE_LIMIT`].
fn parse_max_age(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().filter(|v| *v <= MAX_AGE_LIMIT)
}

/// `sts-policy-mx-value = ["*."] Domain` (RFC 8461 §3.2, `Domain` from RFC 5321).
pub fn parse_mx_pattern(value: &str) -> Option<MxPattern> {
    let (wildcard, domain) = match value.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    is_ascii_domain(domain).then(|| MxPattern {
        wildcard,
        domain: domain.to_ascii_lowercase(),
    })
}

impl Policy {
    /// Renders the policy as RFC 8461 §3.2 text (LF line ends), in the order
    /// version, mode, mx, max_age, extensions. Parsing the result gives back an
    /// equal policy.
    pub fn render(&self) -> String {
        let mut out = format!("version: STSv1\nmode: {}\n", self.mode.as_str());
        for pattern in &self.mx {
            out.push_str(&format!("mx: {pattern}\n"));
        }
        out.push_str(&format!("max_age: {}\n", self.max_age));
        for (name, value) in &self.extensions {
            out.push_str(&format!("{name}: {value}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Policy {
        parse_policy(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> PolicyError {
        parse_policy(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn rfc_example() {
        let p = ok("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n");
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604800);
        assert_eq!(p.mx.len(), 3);
        assert!(p.mx[1].wildcard);
        assert_eq!(p.mx[1].domain, "example.net");
    }

    #[test]
    fn line_ends_order_and_whitespace() {
        // LF only, no final line end, fields in any order, WSP after ':' and at line end.
        let p = ok("max_age:86400 \nmx:\tmx.example.com\nmode: testing\t\nversion: STSv1");
        assert_eq!(p.mode, Mode::Testing);
        // Mixed LF and CRLF.
        ok("version: STSv1\nmode: none\r\nmax_age: 0\n");
        // Unknown well-formed fields are ignored; UTF-8 allowed in them.
        let p = ok("version: STSv1\nmode: none\nmax_age: 0\nx-note: héllo wörld\n");
        assert_eq!(p.extensions.len(), 1);
        // Mode none needs no mx.
        assert!(ok("version: STSv1\nmode: none\nmax_age: 31557600\n")
            .mx
            .is_empty());
        // Upper-case MX is accepted and compared case-insensitively.
        assert_eq!(
            ok("version: STSv1\nmode: testing\nmx: MX.Example.COM\nmax_age: 1\n").mx[0].domain,
            "mx.example.com"
        );
    }

    /// A table of broken policies and the error each gives (long by nature).
    #[test]
    fn syntax_errors() {
        let base = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";
        assert_eq!(err(""), PolicyError::Empty);
        assert_eq!(parse_policy(b"\xff\xfe"), Err(PolicyError::NotUtf8));
        assert_eq!(
            err(&format!("{base}\n")),
            PolicyError::MalformedLine { line: 5 }
        );
        assert_eq!(
            err("version: STSv1\n\nmode: none\nmax_age: 1\n"),
            PolicyError::MalformedLine { line: 2 }
        );
        assert_eq!(
            err("mode: none\nmax_age: 1\n"),
            PolicyError::Missing("version")
        );
        assert_eq!(
            err("version: STSv1\nmax_age: 1\n"),
            PolicyError::Missing("mode")
        );
        assert_eq!(
            err("version: STSv1\nmode: none\n"),
            PolicyError::Missing("max_age")
        );
        assert_eq!(
            err("version: STSv2\nmode: none\nmax_age: 1\n"),
            PolicyError::BadVersion
        );
        assert_eq!(
            err("version: stsv1\nmode: none\nmax_age: 1\n"),
            PolicyError::BadVersion
        );
        assert_eq!(
            err("version: STSv1\nmode: Enforce\nmx: a.b\nmax_age: 1\n"),
            PolicyError::BadMode
        );
        assert_eq!(
            err("version: STSv1\nmode: report\nmax_age: 1\n"),
            PolicyError::BadMode
        );
        assert_eq!(
            err("version: STSv1\nmode: none\nmax_age: -1\n"),
            PolicyError::BadMaxAge
        );
        assert_eq!(
            err("version: STSv1\nmode: none\nmax_age: 31557601\n"),
            PolicyError::BadMaxAge
        );
        assert_eq!(
            err("version: STSv1\nmode: none\nmax_age: 12345678901\n"),
            PolicyError::BadMaxAge
        );
        assert_eq!(
            err("version: STSv1\nmode: none\nmax_age: 1d\n"),
            PolicyError::BadMaxAge
        );
        assert_eq!(
            err("version: STSv1\nmode: none\nmax_age: \n"),
            PolicyError::BadValue { line: 3 }
        );
        assert_eq!(
            err("version: STSv1\nmode: enforce\nmax_age: 1\n"),
            PolicyError::NoMx("enforce")
        );
        assert_eq!(
            err("version: STSv1\nmode: testing\nmax_age: 1\n"),
            PolicyError::NoMx("testing")
        );
        for bad_mx in [
            "*.*.example.com",
            "mx.*.example.com",
            "mx.example.com.",
            "*example.com",
            "mx_1.example.com",
            "*.",
            "",
        ] {
            let text = format!("version: STSv1\nmode: testing\nmx: {bad_mx}\nmax_age: 1\n");
            assert!(
                matches!(
                    parse_policy(text.as_bytes()),
                    Err(PolicyError::BadMx { .. }) | Err(PolicyError::BadValue { .. })
                ),
                "{bad_mx}"
            );
        }
        // Space before ':' is not allowed: the name would contain it.
        assert_eq!(
            err("version : STSv1\nmode: none\nmax_age: 1\n"),
            PolicyError::BadFieldName { line: 1 }
        );
        // Leading white space on a line is not a field name either.
        assert_eq!(
            err(" version: STSv1\nmode: none\nmax_age: 1\n"),
            PolicyError::BadFieldName { line: 1 }
        );
        // A control character in a value.
        assert_eq!(
            err("version: STSv1\nmode: none\nmax_age: 1\nx: a\u{7}b\n"),
            PolicyError::BadValue { line: 4 }
        );
        // A lone CR is not a line end.
        assert_eq!(
            err("version: STSv1\rmode: none\nmax_age: 1\n"),
            PolicyError::BadValue { line: 1 }
        );
        // An HTML error page.
        assert!(matches!(
            err("<html><body>Not here</body></html>"),
            PolicyError::MalformedLine { line: 1 }
        ));
    }

    #[test]
    fn repeated_fields_first_wins() {
        let base = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";
        let p = ok(&format!(
            "{base}mode: testing\nmax_age: 1\nmode: none\nversion: STSv1\n"
        ));
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        let fields: Vec<_> = p.duplicate_fields.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["mode", "max_age", "version"]);
        assert_eq!(p.duplicate_fields[0].values, ["enforce", "testing", "none"]);
        assert!(p.duplicate_fields[0].values_differ());
        assert!(!p.duplicate_fields[2].values_differ());
        // A repeat is ignored even when it would not parse as its field...
        let p = ok(&format!("{base}mode: bogus\nmax_age: 99999999999\n"));
        assert_eq!((p.mode, p.max_age), (Mode::Enforce, 86400));
        assert_eq!(p.duplicate_fields.len(), 2);
        // ...but the first entry is the one that counts.
        assert_eq!(
            err("version: STSv1\nmode: bogus\nmode: enforce\nmx: a.b\nmax_age: 1\n"),
            PolicyError::BadMode
        );
        // mx repeats by design and unknown fields are ignored anyway.
        let p = ok(&format!("{base}mx: mx2.example.com\nx: 1\nx: 2\n"));
        assert!(p.duplicate_fields.is_empty());
        // The report keeps a bounded number of values.
        let many = format!("{base}{}", "mode: testing\n".repeat(100));
        assert_eq!(
            ok(&many).duplicate_fields[0].values.len(),
            MAX_DUPLICATE_VALUES
        );
        let long = format!("{base}mode: {}\n", "x".repeat(1000));
        assert_eq!(
            ok(&long).duplicate_fields[0].values[1].len(),
            MAX_DUPLICATE_VALUE_CHARS
        );
    }

    #[test]
    fn extension_values_follow_the_abnf() {
        let policy = |value: &str| format!("version: STSv1\nmode: none\nmax_age: 1\nx: {value}\n");
        // Visible characters, UTF-8, and spaces between words.
        for good in ["a", "a b", "a  b;c=d", "héllo wörld", "~!@#"] {
            assert_eq!(ok(&policy(good)).extensions[0].1, good);
        }
        // White space around the value belongs to the delimiters.
        assert_eq!(ok(&policy("\t v \t")).extensions[0].1, "v");
        // A tab or another control character inside is not allowed.
        for bad in ["a\tb", "a\u{7f}b", "a\u{1b}b"] {
            assert_eq!(
                err(&policy(bad)),
                PolicyError::BadValue { line: 4 },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn render_round_trips() {
        let p = ok("max_age: 86400\nmx: *.example.net\nmode: testing\nversion: STSv1\nmx: mx.example.com\next: v\n");
        assert_eq!(parse_policy(p.render().as_bytes()), Ok(p));
    }
}
