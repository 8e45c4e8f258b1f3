//! How senders apply a policy in each mode (RFC 8461 §5).

use super::policy::Mode;

/// Whether senders act on validation failures in `mode`: in `enforce` they
/// refuse delivery, in `testing` they deliver and report (RFC 8461 §5). In
/// `none` nothing is applied: failures are seen, not acted on.
pub fn failures_apply(mode: Mode) -> bool {
    mode != Mode::None
}

/// Whether a domain passes, as a sender enforcing its policy would see it:
/// a valid record and a valid policy, and, when the mode applies its rules,
/// every MX host covered by the policy and passing STARTTLS with a valid
/// certificate (`mx_hosts_pass`). `policy_mode` is `None` when no valid
/// policy was fetched.
pub fn domain_passes(record_valid: bool, policy_mode: Option<Mode>, mx_hosts_pass: bool) -> bool {
    match policy_mode {
        Some(mode) => record_valid && (!failures_apply(mode) || mx_hosts_pass),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mode_none_ignores_failures() {
        assert!(failures_apply(Mode::Enforce));
        assert!(failures_apply(Mode::Testing));
        assert!(!failures_apply(Mode::None));
    }

    #[test]
    fn verdict() {
        // No valid policy or no valid record: never a pass.
        assert!(!domain_passes(true, None, true));
        assert!(!domain_passes(false, Some(Mode::Enforce), true));
        assert!(!domain_passes(false, Some(Mode::None), true));
        // MX failures fail enforce and testing, not none.
        assert!(domain_passes(true, Some(Mode::Enforce), true));
        assert!(!domain_passes(true, Some(Mode::Enforce), false));
        assert!(!domain_passes(true, Some(Mode::Testing), false));
        assert!(domain_passes(true, Some(Mode::None), false));
    }
}
