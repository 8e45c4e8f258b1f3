//! One "what to do" table, not three copies: the README's "What to do"
//! table, the "**Do:**" of each alert runbook in the README and the
//! `what_to_do` annotation of each rule in `config/alerts.yml` must say
//! what `src/remedy.rs` says (`check` prints it from there).
//!
//! On a difference the test fails; to rewrite the three from the table:
//!
//! ```sh
//! MTASTS_BLESS=1 cargo test --test what_to_do
//! ```
//!
//! which also regenerates the PrometheusRule (`scripts/gen-prometheusrule.sh`).
//! `config/alerts_test.yml` (promtool) pins the expanded annotations.

use mtasts_exporter::remedy;
use mtasts_exporter::report::Warning;
use mtasts_exporter::rfc::rfc8460::report::ReportResultType;
use mtasts_exporter::taxonomy::LocalErrorKind;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What an alert is about, in the table's keys (reason codes as the README
/// writes them, warning names).
struct AlertRemedy {
    alert: &'static str,
    keys: &'static [&'static str],
    /// The rule has a `reason` label: the annotation picks the line of the
    /// reason that fires.
    by_reason_label: bool,
    /// The README runbook's "**Do:**" is generated from the keys.
    in_readme: bool,
}

const RECORD: &[&str] = &[
    "multiple-mta-sts-records",
    "record-syntax-error",
    "dns-lookup",
];
const FETCH: &[&str] = &["no-policy-served", "cannot-fetch-policy"];
const CERTIFICATE: &[&str] = &[
    "certificate-expired",
    "certificate-host-mismatch",
    "certificate-not-trusted",
];
const STARTTLS: &[&str] = &[
    "timeout",
    "connection-refused",
    "connection-failed",
    "no-address",
    "dns-lookup",
    "smtp-greeting",
    "smtp-ehlo-failed",
    "smtp-protocol-error",
    "smtp-starttls-reply-code-NNN",
    "tls-remote-*",
    "tls-handshake-failure",
];

/// Every alert of `config/alerts.yml` about a failure or a warning. The
/// others (about the exporter, the policy history or the mode) are in
/// [`OWN_RUNBOOK`].
const ALERTS: &[AlertRemedy] = &[
    AlertRemedy {
        alert: "MtaStsRecordMissing",
        keys: &["no-mta-sts-dns-txt-record"],
        by_reason_label: true,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsRecordInvalid",
        keys: RECORD,
        by_reason_label: true,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsPolicyFetchFailing",
        keys: FETCH,
        by_reason_label: true,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsPolicyInvalid",
        keys: &["policy-syntax-error"],
        by_reason_label: true,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsPolicyCertInvalid",
        keys: CERTIFICATE,
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsPolicyCertExpiringSoon",
        keys: &["certificate-expiring-soon"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsPolicyCertExpiringCritical",
        keys: &["certificate-expiring-soon"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxCertInvalid",
        keys: CERTIFICATE,
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxCertExpiringSoon",
        keys: &["certificate-expiring-soon"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxCertExpiringCritical",
        keys: &["certificate-expiring-soon"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxNotCoveredEnforce",
        keys: &["mtasts-policy-mx-mismatch"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxNotCoveredTesting",
        keys: &["mtasts-policy-mx-mismatch"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxStarttlsMissing",
        keys: &["starttls-not-offered"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxStarttlsFailing",
        keys: STARTTLS,
        by_reason_label: true,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsMxLookupFailing",
        keys: &["dns-lookup"],
        by_reason_label: true,
        in_readme: true,
    },
    // The safety net: any reason; its runbook explains the rule itself.
    AlertRemedy {
        alert: "MtaStsProbeFailing",
        keys: &[],
        by_reason_label: true,
        in_readme: false,
    },
    AlertRemedy {
        alert: "MtaStsDaneTlsaMismatch",
        keys: &[
            "tlsa-mismatch",
            "all-unusable-records",
            "dane-ta-host-mismatch",
            "dane-ta-certificate-expired",
            "dane-ta-chain-invalid",
        ],
        by_reason_label: true,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsDnssecBogus",
        keys: &["dnssec-bogus"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsTlsaLookupFailing",
        keys: &["tlsa-lookup-failed"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsTlsaRolloverNotReady",
        keys: &["tlsa-rollover-not-ready"],
        by_reason_label: false,
        in_readme: true,
    },
    AlertRemedy {
        alert: "MtaStsTlsrptMissing",
        keys: &["tlsrpt-record-missing"],
        by_reason_label: false,
        in_readme: true,
    },
];

/// Alerts about something no failure or warning names: their runbooks
/// are written by hand and they carry no `what_to_do`.
const OWN_RUNBOOK: &[&str] = &[
    "MtaStsPolicyIdStale",
    "MtaStsModeDowngraded",
    "MtaStsCachedPolicyLapsing",
    // The mismatch against a cached copy: the generic mismatch line (edit
    // the policy) does not reach senders holding the copy; the README says
    // what does.
    "MtaStsMxNotCoveredCached",
    "MtaStsProbeStale",
    "MtaStsExporterDown",
    "MtaStsExporterConfigReloadFailed",
    // What senders reported (TLSRPT): about any result type, so their
    // runbooks send the reader to `mtasts-exporter reports`, which prints
    // the line of README "What senders' reports ask of you" per result.
    "MtaStsTlsrptFailuresReported",
    "MtaStsProbeBlindSpot",
    "MtaStsTlsrptSenderSilent",
];

/// The table, by key, in its order: reasons, warnings, local errors.
fn table() -> Vec<(String, &'static str, &'static str)> {
    let reasons = remedy::REASONS.iter().map(|r| {
        (
            remedy::reason_code(*r).into_owned(),
            "failure",
            remedy::for_reason(*r),
        )
    });
    let warnings = Warning::ALL
        .iter()
        .map(|w| (w.as_str().to_string(), "warning", remedy::for_warning(*w)));
    let local = LocalErrorKind::ALL.iter().map(|k| {
        (
            k.as_str().to_string(),
            "local error",
            remedy::for_local_error(*k),
        )
    });
    reasons.chain(warnings).chain(local).collect()
}

fn line_for(key: &str) -> &'static str {
    table()
        .into_iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, _, line)| line)
        .unwrap_or_else(|| panic!("{key} is not in src/remedy.rs"))
}

/// The keys of an alert: [`ProbeFailing`] covers every reason.
fn keys_of(alert: &AlertRemedy) -> Vec<String> {
    if alert.keys.is_empty() {
        remedy::REASONS
            .iter()
            .map(|r| remedy::reason_code(*r).into_owned())
            .collect()
    } else {
        alert.keys.iter().map(|k| k.to_string()).collect()
    }
}

/// The Go template condition on `$labels.reason` for a key.
fn condition(key: &str) -> String {
    match key.strip_suffix("NNN").or_else(|| key.strip_suffix('*')) {
        Some(prefix) => format!("match \"^{prefix}\" $labels.reason"),
        None => format!("eq $labels.reason \"{key}\""),
    }
}

/// The `what_to_do:` annotation of an alert's rules, as lines of
/// `config/alerts.yml` (10 spaces in, as the other annotations).
fn annotation(alert: &AlertRemedy) -> Vec<String> {
    let keys = keys_of(alert);
    if keys.len() == 1 {
        return vec![format!("          what_to_do: '{}'", line_for(&keys[0]))];
    }
    if !alert.by_reason_label {
        let joined: Vec<String> = keys
            .iter()
            .map(|k| format!("{k}: {}", line_for(k)))
            .collect();
        return vec![format!("          what_to_do: '{}'", joined.join(" "))];
    }
    let mut lines = vec!["          what_to_do: >-".to_string()];
    for (i, key) in keys.iter().enumerate() {
        let keyword = if i == 0 { "{{ if" } else { "{{- else if" };
        lines.push(format!(
            "            {keyword} {} }}}}{}",
            condition(key),
            line_for(key)
        ));
    }
    lines.push(
        "            {{- else }}`mtasts-exporter check <domain>` shows what to do.".to_string(),
    );
    lines.push("            {{- end }}".to_string());
    lines
}

/// Greedy wrap at 76 columns; `indent` on the lines after the first.
fn wrap(text: &str, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut has_word = false;
    for word in text.split(' ') {
        if has_word && line.len() + 1 + word.len() > 76 {
            lines.push(std::mem::replace(&mut line, indent.to_string()));
            has_word = false;
        }
        if has_word {
            line.push(' ');
        }
        line.push_str(word);
        has_word = true;
    }
    lines.push(line);
    lines
}

/// The "**Do:**" paragraph of an alert's runbook.
fn runbook(alert: &AlertRemedy) -> Vec<String> {
    let keys = keys_of(alert);
    if keys.len() == 1 {
        return wrap(&format!("**Do:** {}", line_for(&keys[0])), "");
    }
    let mut lines = vec![
        "**Do:** by reason (`mtasts-exporter check <domain>` names it and the host):".to_string(),
    ];
    for key in &keys {
        lines.extend(wrap(&format!("- `{key}`: {}", line_for(key)), "  "));
    }
    lines
}

const TABLE_START: &str =
    "<!-- what-to-do table: generated from src/remedy.rs, see tests/what_to_do.rs -->";
const TABLE_END: &str = "<!-- end of the what-to-do table -->";

/// The README's "What to do" table, between its markers.
fn readme_table() -> Vec<String> {
    let mut lines = vec![
        TABLE_START.to_string(),
        "| failure, warning or local error | what to do |".to_string(),
        "|---|---|".to_string(),
    ];
    for (key, kind, line) in table() {
        let what = match kind {
            "failure" => format!("`{key}`"),
            other => format!("`{key}` ({other})"),
        };
        lines.push(format!("| {what} | {line} |"));
    }
    lines.push(TABLE_END.to_string());
    lines
}

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `readme` with the table and the mapped runbooks as the table says.
fn expected_readme(readme: &str) -> String {
    let mut lines: Vec<String> = readme.lines().map(str::to_string).collect();
    let start = lines.iter().position(|l| l == TABLE_START);
    let end = lines.iter().position(|l| l == TABLE_END);
    match (start, end) {
        (Some(start), Some(end)) if start < end => {
            lines.splice(start..=end, readme_table());
        }
        _ => panic!("README.md has no what-to-do table markers ({TABLE_START})"),
    }
    splice_reported_table(&mut lines);
    for alert in ALERTS.iter().filter(|a| a.in_readme) {
        let heading = format!("#### Alert: {}", alert.alert);
        let at = lines
            .iter()
            .position(|l| *l == heading)
            .unwrap_or_else(|| panic!("README.md has no section {heading}"));
        let do_start = (at..lines.len())
            .find(|&i| lines[i].starts_with("**Do:**"))
            .unwrap_or_else(|| panic!("{heading} has no **Do:**"));
        let do_end = (do_start..lines.len())
            .find(|&i| lines[i].is_empty())
            .unwrap_or(lines.len());
        lines.splice(do_start..do_end, runbook(alert));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// `rules` with each mapped rule's `what_to_do` annotation as the table
/// says, right after its `runbook_url`.
fn expected_rules(rules: &str) -> String {
    let by_name: BTreeMap<&str, &AlertRemedy> = ALERTS.iter().map(|a| (a.alert, a)).collect();
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<&AlertRemedy> = None;
    let mut skipping = false;
    for line in rules.lines() {
        if skipping {
            if line.starts_with("            ") {
                continue;
            }
            skipping = false;
        }
        if line.trim_start().starts_with("what_to_do:") {
            skipping = true;
            continue;
        }
        if let Some(name) = line.trim_start().strip_prefix("- alert: ") {
            let name = name.trim();
            current = by_name.get(name).copied();
            assert!(
                current.is_some() || OWN_RUNBOOK.contains(&name),
                "alert {name} is in neither ALERTS nor OWN_RUNBOOK of tests/what_to_do.rs: \
                 say which failure or warning it is about"
            );
        }
        out.push(line.to_string());
        if line.trim_start().starts_with("runbook_url:") {
            if let Some(alert) = current {
                out.extend(annotation(alert));
            }
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn bless() -> bool {
    std::env::var_os("MTASTS_BLESS").is_some()
}

#[test]
fn readme_says_what_the_table_says() {
    let readme = std::fs::read_to_string(path("README.md")).unwrap();
    let expected = expected_readme(&readme);
    if bless() {
        std::fs::write(path("README.md"), &expected).unwrap();
        return;
    }
    if let Some((i, (have, want))) = readme
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "README.md line {} differs from src/remedy.rs (MTASTS_BLESS=1 cargo test --test what_to_do rewrites it):\n  have: {have}\n  want: {want}",
            i + 1
        );
    }
    assert_eq!(
        readme, expected,
        "README.md: MTASTS_BLESS=1 cargo test --test what_to_do"
    );
}

#[test]
fn alert_annotations_say_what_the_table_says() {
    let rules = std::fs::read_to_string(path("config/alerts.yml")).unwrap();
    let expected = expected_rules(&rules);
    if bless() {
        std::fs::write(path("config/alerts.yml"), &expected).unwrap();
        let status = std::process::Command::new("bash")
            .arg(path("scripts/gen-prometheusrule.sh"))
            .status()
            .unwrap();
        assert!(status.success());
        return;
    }
    if let Some((i, (have, want))) = rules
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "config/alerts.yml line {} differs from src/remedy.rs (MTASTS_BLESS=1 cargo test --test what_to_do rewrites it):\n  have: {have}\n  want: {want}",
            i + 1
        );
    }
    assert_eq!(
        rules, expected,
        "config/alerts.yml: MTASTS_BLESS=1 cargo test --test what_to_do"
    );
}

/// Every rule of the mapped alerts carries the annotation, and the YAML
/// still parses (the folded block scalars included).
#[test]
fn every_mapped_rule_has_its_annotation() {
    let rules = std::fs::read_to_string(path("config/alerts.yml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&rules).unwrap();
    let mut seen = 0;
    for rule in yaml["groups"][0]["rules"].as_sequence().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        let what = rule["annotations"]["what_to_do"].as_str();
        match ALERTS.iter().find(|a| a.alert == name) {
            Some(alert) => {
                let what = what.unwrap_or_else(|| panic!("{name} has no what_to_do"));
                for key in keys_of(alert) {
                    assert!(what.contains(line_for(&key)), "{name}: {key}");
                }
                seen += 1;
            }
            None => assert!(what.is_none(), "{name} has a what_to_do but no table entry"),
        }
    }
    assert!(seen >= ALERTS.len());
}

#[test]
fn the_wrapper_keeps_words_and_width() {
    let text = "**Do:** ".to_string() + &"word ".repeat(40);
    let lines = wrap(text.trim_end(), "  ");
    assert!(lines.iter().all(|l| l.len() <= 76), "{lines:?}");
    assert!(lines[1..]
        .iter()
        .all(|l| l.starts_with("  ") && !l.starts_with("   ")));
    assert_eq!(lines.join(" ").split_whitespace().count(), 41);
}

const REPORTED_START: &str =
    "<!-- reported-result table: generated from src/remedy.rs, see tests/what_to_do.rs -->";
const REPORTED_END: &str = "<!-- end of the reported-result table -->";

/// The README's table of what to do per result type senders report
/// (RFC 8460 §4.3), between its markers.
fn reported_table() -> Vec<String> {
    let mut lines = vec![
        REPORTED_START.to_string(),
        "| result type reported | what to do |".to_string(),
        "|---|---|".to_string(),
    ];
    for result in ReportResultType::ALL {
        lines.push(format!(
            "| `{}` | {} |",
            result.as_str(),
            remedy::for_reported_result(result)
        ));
    }
    lines.push(REPORTED_END.to_string());
    lines
}

/// `lines` (the README) with its reported-result table as the table says.
fn splice_reported_table(lines: &mut Vec<String>) {
    let start = lines.iter().position(|l| l == REPORTED_START);
    let end = lines.iter().position(|l| l == REPORTED_END);
    match (start, end) {
        (Some(start), Some(end)) if start < end => {
            lines.splice(start..=end, reported_table());
        }
        _ => panic!("README.md has no reported-result table markers ({REPORTED_START})"),
    }
}

/// The README's reported-result table says what
/// `remedy::for_reported_result` says (`readme_says_what_the_table_says`
/// checks the whole README, and rewrites this table too with
/// `MTASTS_BLESS=1`).
#[test]
fn readme_reported_results_say_what_the_table_says() {
    let readme = std::fs::read_to_string(path("README.md")).unwrap();
    let mut lines: Vec<String> = readme.lines().map(str::to_string).collect();
    let have = lines.clone();
    splice_reported_table(&mut lines);
    if bless() {
        return;
    }
    assert_eq!(
        have, lines,
        "README.md's reported-result table: MTASTS_BLESS=1 cargo test --test what_to_do"
    );
}
