//! How many problems a rejected file reports: 200,000 duplicate domains
//! must not become 200,000 error lines (18 MB) or log records. The first
//! [`MAX_PER_KIND`] problems of each kind are kept, and the rest of that
//! kind counted in one line; at most [`MAX_LISTED`] problems are kept in all.
//!
//! A kind is the field with its list indices left out and the problem
//! with its quoted values and numbers left out: `domains[7]: duplicate
//! domain "a.example"` and `domains[9]: duplicate domain "b.example"` are
//! one kind, `domains[8]: "x" is not a valid host name` another.

use super::yaml::{ConfigIssue, Position};
use crate::echo::{capped, capped_at};
use std::collections::HashMap;

/// Characters of a field path kept before it is cut (a path holds the keys
/// as written, and a key can be as long as the file).
pub const MAX_FIELD_CHARS: usize = 200;

/// Characters of a problem kept before it is cut, after each quoted value
/// in it was cut to [`crate::echo::MAX_ECHO_CHARS`].
pub const MAX_PROBLEM_CHARS: usize = 600;

/// Problems of one kind listed before the rest of that kind are counted.
pub const MAX_PER_KIND: usize = 20;

/// Problems listed in all, before the rest are counted.
pub const MAX_LISTED: usize = 100;

/// The problems left out of one kind: how many, and the first one.
struct Omitted {
    count: usize,
    first: ConfigIssue,
}

/// Keeps the first problems of each kind, in file order, followed by one
/// line for each kind with problems left out and one for the problems left
/// out beyond [`MAX_LISTED`].
pub(super) fn bound(mut issues: Vec<ConfigIssue>) -> Vec<ConfigIssue> {
    issues.iter_mut().for_each(cap);
    if issues.len() <= MAX_PER_KIND {
        return issues;
    }
    let mut kept = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    // In the order each kind was first left out.
    let mut omitted: Vec<(String, Omitted)> = Vec::new();
    let mut beyond = 0usize;
    for issue in issues {
        let kind = kind_of(&issue);
        let count = seen.entry(kind.clone()).or_insert(0);
        *count += 1;
        if *count <= MAX_PER_KIND && kept.len() < MAX_LISTED {
            kept.push(issue);
        } else if *count > MAX_PER_KIND {
            let room = omitted.len() < MAX_LISTED;
            match omitted.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, left_out)) => left_out.count += 1,
                None if room => omitted.push((
                    kind,
                    Omitted {
                        count: 1,
                        first: issue,
                    },
                )),
                None => beyond += 1,
            }
        } else {
            beyond += 1;
        }
    }
    for (kind, left_out) in omitted {
        kept.push(summary(&kind, &left_out));
    }
    if beyond > 0 {
        kept.push(ConfigIssue::new(
            "",
            format!("… and {beyond} more problems of other kinds"),
        ));
    }
    kept
}

/// Cuts what an issue echoes: its field path to [`MAX_FIELD_CHARS`], each
/// quoted value in its problem (`"…"`, `` `…` ``, as serde and the
/// validators quote them) to [`crate::echo::MAX_ECHO_CHARS`], and the whole
/// problem to [`MAX_PROBLEM_CHARS`].
pub fn cap(issue: &mut ConfigIssue) {
    if let std::borrow::Cow::Owned(field) = capped_at(&issue.field, MAX_FIELD_CHARS) {
        issue.field = field;
    }
    if issue.problem.len() > crate::echo::MAX_ECHO_CHARS {
        let values_capped = cap_quoted(&issue.problem);
        issue.problem = capped_at(&values_capped, MAX_PROBLEM_CHARS).into_owned();
    }
}

/// `text` with the inside of each quoted part capped by
/// [`crate::echo::capped`]; an unclosed quote runs to the end.
fn cap_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = char::from(rest.as_bytes()[open]);
        out.push_str(&rest[..=open]);
        let inside = &rest[open + 1..];
        match closing(inside, quote) {
            Some(end) => {
                out.push_str(&capped(&inside[..end]));
                out.push(quote);
                rest = &inside[end + 1..];
            }
            None => {
                out.push_str(&capped(inside));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where the quote closing a quoted part is in `inside` (what follows the
/// opening quote): `\"` does not close a `"`.
fn closing(inside: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (at, c) in inside.char_indices() {
        if c == quote && !escaped {
            return Some(at);
        }
        escaped = quote == '"' && c == '\\' && !escaped;
    }
    None
}

/// The line that counts the problems of a kind left out.
fn summary(kind: &str, left_out: &Omitted) -> ConfigIssue {
    let from = match left_out.first.position {
        Some(Position { line, .. }) => format!(", from line {line} on"),
        None => String::new(),
    };
    ConfigIssue::new(
        "",
        format!("… and {} more problems like {kind}{from}", left_out.count),
    )
}

/// The kind of a problem: `field: problem` without list indices, quoted
/// values and numbers.
fn kind_of(issue: &ConfigIssue) -> String {
    let field = without_values(&issue.field);
    let problem = without_values(&issue.problem);
    if field.is_empty() {
        problem
    } else {
        format!("{field}: {problem}")
    }
}

/// `text` with each quoted part (`"…"`, `` `…` ``) and each number written
/// as `…`.
fn without_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(256));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' => {
                let mut escaped = false;
                for inner in chars.by_ref() {
                    if inner == c && !escaped {
                        break;
                    }
                    escaped = c == '"' && inner == '\\' && !escaped;
                }
                out.push(c);
                out.push('…');
                out.push(c);
            }
            '0'..='9' => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('…');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(field: &str, problem: &str, line: usize) -> ConfigIssue {
        ConfigIssue {
            field: field.into(),
            position: Some(Position { line, column: 5 }),
            problem: problem.into(),
        }
    }

    #[test]
    fn kinds_leave_out_values() {
        assert_eq!(
            kind_of(&issue(
                "domains[12]",
                r#"duplicate domain "a\"b.example""#,
                1
            )),
            r#"domains[…]: duplicate domain "…""#
        );
        assert_eq!(
            kind_of(&issue("shard", "index 3 must be below count 2", 1)),
            "shard: index … must be below count …"
        );
    }

    #[test]
    fn the_first_of_each_kind_are_kept_and_the_rest_counted() {
        let mut issues = vec![issue("concurrency", "must be from 1 to 100000", 1)];
        for i in 0..1000 {
            issues.push(issue(
                &format!("domains[{i}]"),
                &format!("duplicate domain \"d{i}.example\""),
                i + 10,
            ));
            issues.push(issue(
                &format!("domains[{i}].timeout"),
                "must be above zero",
                i + 10,
            ));
        }
        let bounded = bound(issues);
        assert_eq!(bounded.len(), 1 + 2 * MAX_PER_KIND + 2);
        assert_eq!(bounded[0].field, "concurrency");
        let last = &bounded[bounded.len() - 2..];
        assert_eq!(
            last[0].problem,
            "… and 980 more problems like domains[…]: duplicate domain \"…\", from line 30 on"
        );
        assert_eq!(
            last[1].problem,
            "… and 980 more problems like domains[…].timeout: must be above zero, from line 30 on"
        );
    }

    #[test]
    fn echoed_values_are_capped() {
        let long = "x".repeat(1_000_000);
        let mut issue = issue(
            &format!("resolver.{long}"),
            &format!("unknown field `{long}`, expected `nameservers` or `timeout`"),
            1,
        );
        cap(&mut issue);
        assert!(issue.field.len() < 300, "{}", issue.field);
        assert_eq!(
            issue.problem,
            format!(
                "unknown field `{}… (1000000 bytes)`, expected `nameservers` or `timeout`",
                "x".repeat(100)
            )
        );
        let mut issue = issue_with(&format!(
            "invalid type: string \"a\\\"{long}\", expected u16"
        ));
        cap(&mut issue);
        assert!(
            issue.problem.ends_with("(1000003 bytes)\", expected u16"),
            "{}",
            issue.problem
        );
        // Unquoted, or quoted many times: the whole is cut too.
        let mut issue = issue_with(&format!("{long} and {}", "`a` ".repeat(1000)));
        cap(&mut issue);
        assert!(issue.problem.chars().count() < 700, "{}", issue.problem);
    }

    fn issue_with(problem: &str) -> ConfigIssue {
        ConfigIssue::new("interval", problem)
    }

    #[test]
    fn many_kinds_are_bounded_in_all() {
        let issues: Vec<ConfigIssue> = (0..1000)
            .map(|i| {
                // Names without digits, each its own kind.
                let name: String = [i / 260, i / 26 % 10, i % 26]
                    .iter()
                    .map(|&n| char::from(b'a' + n as u8))
                    .collect();
                issue(&format!("modules.{name}.timeout"), "bad", i)
            })
            .collect();
        let bounded = bound(issues);
        assert_eq!(bounded.len(), MAX_LISTED + 1);
        assert_eq!(
            bounded[MAX_LISTED].problem,
            "… and 900 more problems of other kinds"
        );
    }
}
