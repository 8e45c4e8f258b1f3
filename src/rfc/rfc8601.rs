//! The `Authentication-Results` header field (RFC 8601): which
//! authentication service (`authserv-id`) says what of which method
//! (`dkim=pass header.d=example.com`). Read leniently but within its
//! grammar (§2.2): comments are dropped, `authserv-id` and values may be
//! quoted strings, spaces around `=` are allowed. What is trusted of it is
//! not decided here: an `Authentication-Results` header is only as good as
//! the service that added it, and a sender can write any it likes (§7.1).

/// One parsed `Authentication-Results` header field (RFC 8601 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationResults {
    /// The `authserv-id`: which service wrote it (RFC 8601 §2.5), as
    /// written (compare it with [`AuthenticationResults::is_from`]).
    pub authserv_id: String,
    /// The `resinfo` entries, in order (none for `none`), at most
    /// [`MAX_RESULTS`].
    pub results: Vec<MethodResult>,
}

/// The `resinfo` entries kept of one header field.
pub const MAX_RESULTS: usize = 64;

/// The properties kept of one `resinfo`.
pub const MAX_PROPERTIES: usize = 16;

/// One `resinfo` (RFC 8601 §2.2, §2.7): a method, its result and the
/// properties it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// The method (`dkim`, `spf`, ...), lower case, without its
    /// `/version`.
    pub method: String,
    /// The result (`pass`, `fail`, ...), lower case (RFC 8601 §2.7).
    pub result: String,
    /// `ptype.property` (lower case) and its value, in order (e.g.
    /// `header.d`, `example.com`), at most [`MAX_PROPERTIES`].
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    /// The value of the first property named `name` (`header.d`), compared
    /// without regard to case (RFC 8601 §2.2: ptype and property are
    /// keywords).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl AuthenticationResults {
    /// Whether the service `authserv_id` wrote it: the `authserv-id`
    /// compared without regard to case (RFC 8601 §2.5: it is usually a
    /// domain name, and those compare so).
    pub fn is_from(&self, authserv_id: &str) -> bool {
        self.authserv_id.eq_ignore_ascii_case(authserv_id)
    }
}

/// Parses the value of an `Authentication-Results` header field (RFC 8601
/// §2.2), folding included. `None` when it has no `authserv-id`. A
/// `resinfo` without `method=result` is skipped, not fatal.
pub fn parse_authentication_results(value: &str) -> Option<AuthenticationResults> {
    let text = without_comments(value);
    let mut segments = split_outside_quotes(&text, ';').into_iter();
    let head = tokens(segments.next().unwrap_or_default());
    // authserv-id [CFWS authres-version]
    let authserv_id = head.first().map(|token| unquote(token))?;
    if authserv_id.is_empty() {
        return None;
    }
    let mut results = Vec::new();
    for segment in segments {
        if results.len() >= MAX_RESULTS {
            break;
        }
        if let Some(result) = method_result(segment) {
            results.push(result);
        }
    }
    Some(AuthenticationResults {
        authserv_id,
        results,
    })
}

/// One `resinfo` (RFC 8601 §2.2): `method[/version]=result`, then an
/// optional `reason=value` and `ptype.property=pvalue` entries.
fn method_result(segment: &str) -> Option<MethodResult> {
    let mut entries = tokens(segment).into_iter();
    let first = entries.next()?;
    let (method, result) = first.split_once('=')?;
    let method = method.split('/').next().unwrap_or_default().trim();
    let result = unquote(result);
    if method.is_empty() || result.is_empty() || method.eq_ignore_ascii_case("none") {
        return None;
    }
    let mut properties = Vec::new();
    for entry in entries {
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        if !key.contains('.') || properties.len() >= MAX_PROPERTIES {
            continue; // `reason=` or something unknown
        }
        properties.push((key.to_ascii_lowercase(), unquote(value)));
    }
    Some(MethodResult {
        method: method.to_ascii_lowercase(),
        result: result.to_ascii_lowercase(),
        properties,
    })
}

/// `text` without its comments (RFC 5322 §3.2.2: parenthesised, nested,
/// with `\` quoting), each replaced by a space; quoted strings are kept as
/// they are.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut in_quotes = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if depth > 0 || in_quotes => {
                let next = chars.next();
                if in_quotes && depth == 0 {
                    out.push('\\');
                    out.extend(next);
                }
            }
            '"' if depth == 0 => {
                in_quotes = !in_quotes;
                out.push(c);
            }
            '(' if !in_quotes => depth += 1,
            ')' if !in_quotes && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            _ if depth > 0 => {}
            '\r' | '\n' | '\t' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// `text` cut at each `separator` outside quoted strings.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            _ if c == separator && !in_quotes => {
                parts.push(&text[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The space-separated entries of a comment-free segment, with the spaces
/// around `=` (and `/` in a method) dropped so that `dkim = pass` reads as
/// `dkim=pass`.
fn tokens(segment: &str) -> Vec<String> {
    let mut joined = String::with_capacity(segment.len());
    let mut in_quotes = false;
    let mut escaped = false;
    let mut pending_space = false;
    for c in segment.chars() {
        if in_quotes {
            joined.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            ' ' => pending_space = true,
            '=' | '/' => {
                pending_space = false;
                while joined.ends_with(' ') {
                    joined.pop();
                }
                joined.push(c);
            }
            _ => {
                if pending_space && !joined.is_empty() && !joined.ends_with(['=', '/']) {
                    joined.push(' ');
                }
                pending_space = false;
                if c == '"' {
                    in_quotes = true;
                }
                joined.push(c);
            }
        }
    }
    split_outside_quotes(&joined, ' ')
        .into_iter()
        .filter(|token| !token.is_empty())
        .map(str::to_string)
        .collect()
}

/// A `value` (RFC 2045 §5.1: token or quoted-string) as its text.
fn unquote(value: &str) -> String {
    let value = value.trim();
    let Some(inner) = value
        .strip_prefix('"')
        .map(|rest| rest.strip_suffix('"').unwrap_or(rest))
    else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> AuthenticationResults {
        match parse_authentication_results(value) {
            Some(parsed) => parsed,
            None => panic!("{value:?} does not parse"),
        }
    }

    #[test]
    fn the_rfc_examples_read() {
        // RFC 8601 appendix B.4, B.5 (shortened).
        let one = parsed("example.com; spf=pass smtp.mailfrom=example.net");
        assert_eq!(one.authserv_id, "example.com");
        assert_eq!(one.results.len(), 1);
        assert_eq!(one.results[0].method, "spf");
        assert_eq!(one.results[0].result, "pass");
        assert_eq!(
            one.results[0].property("smtp.mailfrom"),
            Some("example.net")
        );

        let several = parsed(
            "example.com;\r\n  auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n  spf=pass smtp.mailfrom=example.net;\r\n  dkim=pass (good signature) header.d=Example.NET header.b=\"abc/def=\"",
        );
        let methods: Vec<_> = several
            .results
            .iter()
            .map(|r| (r.method.as_str(), r.result.as_str()))
            .collect();
        assert_eq!(
            methods,
            vec![("auth", "pass"), ("spf", "pass"), ("dkim", "pass")]
        );
        assert_eq!(several.results[2].property("HEADER.D"), Some("Example.NET"));
        assert_eq!(several.results[2].property("header.b"), Some("abc/def="));

        let none = parsed("example.org 1; none");
        assert_eq!(none.authserv_id, "example.org");
        assert!(none.results.is_empty());
    }

    #[test]
    fn comments_quotes_versions_and_spaces_are_read_through() {
        let odd = parsed(
            "(the local MTA) \"mx.example.org\" (v) 1 ; dkim/1 = pass (reason \\) ; here) reason=\"ok; fine\" header.d = (c) sender.example ; dmarc=fail",
        );
        assert!(odd.is_from("MX.example.org"));
        assert_eq!(odd.results.len(), 2);
        assert_eq!(odd.results[0].method, "dkim");
        assert_eq!(odd.results[0].result, "pass");
        assert_eq!(odd.results[0].property("header.d"), Some("sender.example"));
        assert_eq!(odd.results[1].method, "dmarc");
    }

    #[test]
    fn nonsense_reads_as_nothing_or_no_results() {
        assert_eq!(parse_authentication_results(""), None);
        assert_eq!(parse_authentication_results("  (only a comment) "), None);
        assert_eq!(parse_authentication_results("; dkim=pass"), None);
        let junk = parsed("host; =; dkim; ==; \"unterminated");
        assert!(junk.results.is_empty(), "{junk:?}");
    }
}
