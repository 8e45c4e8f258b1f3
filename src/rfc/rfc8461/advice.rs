//! What RFC 8461 allows but strict senders or checkers trip over: the
//! thresholds behind the exporter's policy warnings.

use super::policy::Mode;

/// A policy larger than this is flagged (`policy-large`): real policies are a
/// few hundred bytes, and some senders cap what they read well below 64 KiB.
pub const POLICY_LARGE_BYTES: usize = 4096;
/// `max_age` below this is short in any mode (one day).
pub const MAX_AGE_SHORT_SECONDS: u64 = 86_400;
/// `max_age` below this is short in mode `enforce` (two weeks, RFC 8461 §3.2
/// suggests weeks or more).
pub const MAX_AGE_SHORT_ENFORCE_SECONDS: u64 = 1_209_600;

/// Whether a `Content-Type` header names `text/plain`, as RFC 8461 §3.2 says
/// the policy is served (parameters such as `charset` allowed, any case).
pub fn is_text_plain(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(|media_type| media_type.trim().eq_ignore_ascii_case("text/plain"))
        .unwrap_or(false)
}

/// Whether `max_age` is short for `mode`: below one day in any mode, below
/// two weeks in `enforce`, where a short cache gives senders little
/// protection against a downgrade (RFC 8461 §3.2, §10).
pub fn max_age_is_short(mode: Mode, max_age: u64) -> bool {
    let short = if mode == Mode::Enforce {
        MAX_AGE_SHORT_ENFORCE_SECONDS
    } else {
        MAX_AGE_SHORT_SECONDS
    };
    max_age < short
}

/// Whether a policy body of `bytes` is larger than real policies are.
pub fn policy_is_large(bytes: usize) -> bool {
    bytes > POLICY_LARGE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_text_plain(Some("text/plain")));
        assert!(is_text_plain(Some("Text/Plain; charset=utf-8")));
        assert!(is_text_plain(Some(" text/plain ;")));
        assert!(!is_text_plain(Some("text/html")));
        assert!(!is_text_plain(Some("text/plainx")));
        assert!(!is_text_plain(None));
    }

    #[test]
    fn max_age_thresholds() {
        assert!(max_age_is_short(Mode::Testing, 86_399));
        assert!(!max_age_is_short(Mode::Testing, 86_400));
        assert!(max_age_is_short(Mode::Enforce, 1_209_599));
        assert!(!max_age_is_short(Mode::Enforce, 1_209_600));
        assert!(!max_age_is_short(Mode::None, 86_400));
    }

    #[test]
    fn large_policies() {
        assert!(!policy_is_large(4096));
        assert!(policy_is_large(4097));
    }
}
