//! The `/probe` endpoint's policy: which targets it may probe (so the
//! exporter is no open scanner), how many probes it runs at once, and the
//! settings each `module=` stands for.

use super::{Config, ProbeSettings};

/// Which targets `/probe` accepts and how many probes it runs at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEndpointConfig {
    /// Exact names and `*.suffix` patterns; `None`: only configured domains.
    pub allowed_targets: Option<Vec<String>>,
    /// Concurrent `/probe` requests; more get 503.
    pub max_concurrent: usize,
}

impl Config {
    /// The probe settings of `/probe?module=NAME` (no module: the defaults).
    pub fn module(&self, name: Option<&str>) -> Option<ProbeSettings> {
        match name {
            None => Some(self.defaults.clone()),
            Some(name) => self
                .modules
                .get(name)
                .cloned()
                .or_else(|| (name == "default").then(|| self.defaults.clone())),
        }
    }

    /// Whether `/probe` may probe `domain` (ASCII, normalized):
    /// RFC-agnostic access control so the exporter is no open scanner.
    pub fn probe_allowed(&self, domain: &str) -> bool {
        match &self.probe_endpoint.allowed_targets {
            None => self.domains.iter().any(|d| d.name == domain),
            Some(patterns) => patterns
                .iter()
                .any(|pattern| target_matches(pattern, domain)),
        }
    }
}

/// Whether one `allowed_targets` entry (normalized) admits `domain`: `*`
/// admits everything, `*.suffix` the names strictly below `suffix`, and a
/// name itself only.
fn target_matches(pattern: &str, domain: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(suffix) = pattern.strip_prefix("*.") {
        domain.len() > suffix.len()
            && domain.ends_with(suffix)
            && domain.as_bytes()[domain.len() - suffix.len() - 1] == b'.'
    } else {
        pattern == domain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn probe_modules_and_targets() {
        let c = Config::parse(
            "probe:\n  allowed_targets: [\"Example.COM\", \"*.hosted.example\"]\n  max_concurrent: 3\nmodules:\n  quick:\n    timeout: 5s\n    check_starttls: false\ndomains: [a.example]\n",
        )
        .unwrap();
        assert!(c.probe_allowed("example.com"));
        assert!(c.probe_allowed("x.hosted.example"));
        assert!(c.probe_allowed("a.b.hosted.example"));
        assert!(!c.probe_allowed("hosted.example"));
        assert!(!c.probe_allowed("evilhosted.example"));
        assert!(
            !c.probe_allowed("a.example"),
            "explicit list replaces the default"
        );
        assert_eq!(c.probe_endpoint.max_concurrent, 3);
        let quick = c.module(Some("quick")).unwrap();
        assert_eq!(quick.timeout, Duration::from_secs(5));
        assert!(!quick.check_starttls && quick.check_mx);
        assert!(c.module(Some("nope")).is_none());
        assert_eq!(c.module(Some("default")), Some(c.defaults.clone()));
        let d = Config::parse("domains: [a.example]\n").unwrap();
        assert!(d.probe_allowed("a.example") && !d.probe_allowed("b.example"));
        let issues =
            Config::parse("shard: {index: 3, count: 3}\nmodules:\n  m:\n    timeout: 0s\n")
                .unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, vec!["modules.m.timeout", "shard"]);
    }
}
