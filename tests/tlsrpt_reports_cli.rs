//! `mtasts-exporter reports`, run as the binary on a spool the test fills
//! through `Spool::store` (what ingestion does): per domain and sender the
//! reports, sessions by result, failure ratio, last report end and the
//! failure details with their addresses and what to do, as text and as
//! JSON; `--domain` and `--since`; read-only (nothing in the spool
//! changes, not even a crash's temporary file or an expired report); and
//! the errors: no `storage.path` (2), no spool or an unreadable stored file
//! (1), bad arguments (2). No network.

use flate2::write::GzEncoder;
use flate2::Compression;
use mtasts_exporter::rfc::rfc8460::report_body::{decode_report, DEFAULT_DECOMPRESSED_LIMIT};
use mtasts_exporter::tlsrpt::spool::{Spool, Stored, SPOOL_DIR};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

const DAY: i64 = 86_400;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Unix seconds as an RFC 3339 date-time (RFC 8460 §4.1).
fn rfc3339(seconds: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        panic!("time {seconds}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A report of `org` about example.com (and elsewhere.example) whose day
/// ended `days_ago` days ago, with `failed` certificate-expired sessions
/// towards mx1.example.com.
fn report_json(org: &str, id: &str, days_ago: i64, success: u64, failed: u64) -> String {
    let end = now() - days_ago * DAY;
    let details = if failed > 0 {
        format!(
            r#"[{{"result-type":"certificate-expired","sending-mta-ip":"203.0.113.9",
              "receiving-mx-hostname":"mx1.example.com","receiving-ip":"2001:db8::25",
              "failed-session-count":{failed},"failure-reason-code":"X509_V_ERR_CERT_HAS_EXPIRED"}}]"#
        )
    } else {
        "[]".to_string()
    };
    format!(
        r#"{{"organization-name":"{org}","report-id":"{id}","contact-info":"tlsrpt@{org}.example",
        "date-range":{{"start-datetime":"{}","end-datetime":"{}"}},
        "policies":[
          {{"policy":{{"policy-type":"sts","policy-domain":"example.com","mx-host":["mx1.example.com"]}},
           "summary":{{"total-successful-session-count":{success},"total-failure-session-count":{failed}}},
           "failure-details":{details}}},
          {{"policy":{{"policy-type":"sts","policy-domain":"elsewhere.example"}},
           "summary":{{"total-successful-session-count":7,"total-failure-session-count":0}}}}]}}"#,
        rfc3339(end - DAY + 1),
        rfc3339(end)
    )
}

struct World {
    _dir: tempfile::TempDir,
    storage: PathBuf,
    config: PathBuf,
}

/// A storage directory with a spool holding `reports` (raw bodies), and a
/// config naming example.com and quiet.example.
fn world(reports: &[Vec<u8>]) -> World {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let storage = dir.path().join("state");
    let spool = Spool::open(&storage, DEFAULT_DECOMPRESSED_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    for raw in reports {
        let report =
            decode_report(raw, DEFAULT_DECOMPRESSED_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        let stored = spool.store(&report, raw).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(stored, Stored::New(_)), "{stored:?}");
    }
    let config = dir.path().join("exporter.yml");
    write_config(&config, Some(&storage));
    World {
        _dir: dir,
        storage,
        config,
    }
}

fn write_config(path: &Path, storage: Option<&Path>) {
    let storage = storage
        .map(|s| format!("storage:\n  path: {}\n", s.display()))
        .unwrap_or_default();
    std::fs::write(
        path,
        format!("{storage}domains:\n  - example.com\n  - quiet.example\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
    encoder.finish().unwrap_or_else(|e| panic!("{e}"))
}

/// The usual spool: Google-like with failures (two days), Microsoft-like
/// clean (gzip), and an old report outside the default week.
fn usual() -> World {
    world(&[
        report_json("google", "g1", 1, 900, 100).into_bytes(),
        report_json("google", "g2", 2, 950, 50).into_bytes(),
        gzip(report_json("microsoft", "m1", 1, 500, 0).as_bytes()),
        report_json("yahoo", "y-old", 30, 10, 10).into_bytes(),
    ])
}

fn reports(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("reports")
        .arg("--config.file")
        .arg(config)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn text_says_what_failed_where_and_what_to_do() {
    let world = usual();
    let output = reports(&world.config, &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.contains("example.com: 3 reports from 2 senders, 2500 sessions, 150 failed (6.00 %)"),
        "{text}"
    );
    assert!(
        text.contains("  google <tlsrpt@google.example>: 2 reports"),
        "{text}"
    );
    assert!(
        text.contains("    sessions  2000: 1850 success, 150 certificate-expired; 7.50 % failed"),
        "{text}"
    );
    assert!(
        text.contains(
            "    FAILED    150 certificate-expired from 203.0.113.9 to mx1.example.com [2001:db8::25], reason \"X509_V_ERR_CERT_HAS_EXPIRED\""
        ),
        "{text}"
    );
    assert!(
        text.contains("what to do: Renew the certificate of the host shown"),
        "{text}"
    );
    assert!(
        text.contains("  microsoft <tlsrpt@microsoft.example>: 1 report"),
        "{text}"
    );
    assert!(
        text.contains("    sessions  500: 500 success; 0.00 % failed"),
        "{text}"
    );
    assert!(
        text.contains("quiet.example: no reports in this period; none stored about it\n"),
        "{text}"
    );
    assert!(
        !text.contains("configured domain"),
        "every configured domain is shown: nothing to name: {text}"
    );
    assert!(!text.contains("yahoo"), "older than 7d: {text}");
    assert!(
        !text.contains("elsewhere.example"),
        "not configured: {text}"
    );
    assert!(
        text.contains("2 domains: 1 with failures reported; 3 reports from 2 senders"),
        "{text}"
    );
    // Google sorts first: the most failed sessions.
    assert!(text.find("google").unwrap_or(usize::MAX) < text.find("microsoft").unwrap_or(0));
}

#[test]
fn json_has_the_documented_fields_and_follows_domain_and_since() {
    let world = usual();
    let output = reports(
        &world.config,
        &[
            "--output",
            "json",
            "--domain",
            "EXAMPLE.com.",
            "--since",
            "60d",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["reports"], 4);
    assert_eq!(json["unusable_files"], 0);
    let since = json["since"].as_i64().unwrap_or(0);
    let now = json["now"].as_i64().unwrap_or(0);
    assert_eq!(now - since, 60 * DAY);
    let domains = json["domains"].as_array().cloned().unwrap_or_default();
    assert_eq!(domains.len(), 1, "only --domain: {json}");
    let domain = &domains[0];
    assert_eq!(domain["domain"], "example.com");
    assert_eq!(domain["reports"], 4);
    assert_eq!(domain["sessions"], 2520);
    assert_eq!(domain["failed_sessions"], 160);
    let senders = domain["senders"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = senders
        .iter()
        .filter_map(|s| s["organization"].as_str())
        .collect();
    assert_eq!(names, ["google", "yahoo", "microsoft"]);
    let google = &senders[0];
    assert_eq!(google["contact"], "tlsrpt@google.example");
    assert_eq!(google["reports"], 2);
    assert_eq!(google["successful_sessions"], 1850);
    assert_eq!(google["failed_sessions"], 150);
    assert_eq!(google["failure_ratio"], 0.075);
    assert!(google["last_report_end"].as_i64().unwrap_or(0) > now - 2 * DAY);
    assert_eq!(
        google["sessions_by_result"],
        serde_json::json!([
            {"policy_type": "sts", "result": "success", "sessions": 1850},
            {"policy_type": "sts", "result": "certificate-expired", "sessions": 150}
        ])
    );
    let detail = &google["failure_details"][0];
    assert_eq!(detail["result_type"], "certificate-expired");
    assert_eq!(detail["sending_mta_ip"], "203.0.113.9");
    assert_eq!(detail["receiving_ip"], "2001:db8::25");
    assert_eq!(detail["receiving_mx_hostname"], "mx1.example.com");
    assert_eq!(detail["failure_reason_code"], "X509_V_ERR_CERT_HAS_EXPIRED");
    assert_eq!(detail["result_type_text"], serde_json::Value::Null);
    assert_eq!(detail["failed_sessions"], 150);
    assert!(detail["what_to_do"]
        .as_str()
        .is_some_and(|w| w.starts_with("Renew the certificate")));
    assert_eq!(google["failure_details_dropped"], 0);
    let microsoft = &senders[2];
    assert_eq!(microsoft["failure_ratio"], 0.0);
    assert_eq!(microsoft["failure_details"], serde_json::json!([]));

    // A domain named but not configured is shown from the spool too.
    let output = reports(
        &world.config,
        &["--output", "json", "--domain", "elsewhere.example"],
    );
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["domains"][0]["domain"], "elsewhere.example");
    assert_eq!(json["domains"][0]["sessions"], 21, "three reports of 7");
}

/// Every file under the storage directory with its length and time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            let meta = entry.metadata().unwrap_or_else(|e| panic!("{e}"));
            if meta.is_dir() {
                stack.push(entry.path());
            }
            files.push((entry.path(), meta.len(), meta.modified().ok()));
        }
    }
    files.sort();
    files
}

#[test]
fn it_only_reads_the_spool() {
    // A report past any retention and a crash's temporary file: the
    // exporter's Spool::open and rebuild would remove them, `reports` not.
    let world = world(&[
        report_json("google", "g1", 1, 10, 1).into_bytes(),
        report_json("ancient", "a1", 1000, 10, 1).into_bytes(),
    ]);
    let leftover = world
        .storage
        .join(SPOOL_DIR)
        .join("tmp")
        .join("half-written");
    std::fs::write(&leftover, b"{\"organization-name\"").unwrap_or_else(|e| panic!("{e}"));
    let before = snapshot(&world.storage);
    for output in ["text", "json"] {
        let run = reports(&world.config, &["--output", output, "--since", "5000d"]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        assert!(stdout(&run).contains("ancient"));
    }
    assert_eq!(snapshot(&world.storage), before, "nothing changed");
}

#[test]
fn errors_are_clear_and_exit_2_or_1() {
    let world = usual();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    // No storage.path: a configuration error.
    let no_storage = dir.path().join("no-storage.yml");
    write_config(&no_storage, None);
    let output = reports(&no_storage, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no storage.path in"),
        "{}",
        stderr(&output)
    );

    // A storage.path without a spool: nothing was ever stored there.
    let empty = dir.path().join("empty.yml");
    write_config(&empty, Some(&dir.path().join("nothing-here")));
    let output = reports(&empty, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no TLSRPT report spool to read"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
    assert!(!dir.path().join("nothing-here").exists(), "not created");

    // Bad arguments.
    for args in [&["--since", "soon"][..], &["--domain", "not a domain"][..]] {
        let output = reports(&world.config, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).starts_with("error: --"),
            "{}",
            stderr(&output)
        );
    }
    let output = reports(&world.config, &["--output", "yaml"]);
    assert_eq!(output.status.code(), Some(2));

    // A stored file that does not read back: named, the rest shown, exit 1.
    let garbage = world
        .storage
        .join(SPOOL_DIR)
        .join("reports")
        .join("0000.report");
    std::fs::write(&garbage, b"\x1f\x8b not gzip at all").unwrap_or_else(|e| panic!("{e}"));
    let output = reports(&world.config, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("0000.report does not read back: gzip"),
        "{err}"
    );
    assert!(stdout(&output).contains("example.com: 3 reports from 2 senders"));
    assert!(stdout(&output).contains("1 stored file could not be read"));
    let output = reports(&world.config, &["--output", "json"]);
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["unusable_files"], 1);
    assert!(json["unusable"][0]["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("0000.report")));
}

/// The reader the subcommand uses lists the stored reports in the order
/// they were stored (file time, not name), each with its time.
#[test]
fn the_spool_reader_gives_reports_in_the_order_stored() {
    let world = world(&[
        report_json("a", "1", 3, 1, 0).into_bytes(),
        report_json("b", "2", 2, 1, 0).into_bytes(),
        report_json("c", "3", 1, 1, 0).into_bytes(),
    ]);
    let reports_dir = world.storage.join(SPOOL_DIR).join("reports");
    // Times set by hand: "c" first, then "a", then "b", whatever the names.
    let base = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    for entry in std::fs::read_dir(&reports_dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let report =
            decode_report(&raw, DEFAULT_DECOMPRESSED_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        let offset = match report.organization_name.as_str() {
            "c" => 0,
            "a" => 1,
            _ => 2,
        };
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        file.set_modified(base + std::time::Duration::from_millis(offset))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let reader = Spool::open_read_only(&world.storage, DEFAULT_DECOMPRESSED_LIMIT)
        .unwrap_or_else(|e| panic!("{e}"));
    let read: Vec<(String, i64)> = reader
        .reports()
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| {
            let r = r.unwrap_or_else(|u| panic!("{u:?}"));
            (r.report.organization_name, r.stored_at)
        })
        .collect();
    assert_eq!(
        read,
        [
            ("c".to_string(), 1_800_000_000),
            ("a".to_string(), 1_800_000_000),
            ("b".to_string(), 1_800_000_000)
        ]
    );
}

/// A domain shown without reports in the period says why: nothing stored
/// about it, or stored reports from before (and the `--since` that shows
/// them), or not a configured domain; and the configured domains that do
/// have reports are named. Exit 0: no report is no error. A malformed
/// argument is a clear error, exit 2.
#[test]
fn a_domain_without_reports_says_why_and_names_those_with_reports() {
    let world = usual();

    let output = reports(&world.config, &["--domain", "nothing.example"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.contains(
            "nothing.example: no reports in this period; not a configured domain: the exporter takes reports only about the domains it is configured for, and none about it is stored"
        ),
        "{text}"
    );
    assert!(
        text.contains("configured domains with reports in this period: example.com\n"),
        "{text}"
    );

    let output = reports(&world.config, &["--domain", "quiet.example"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("quiet.example: no reports in this period; none stored about it\n"),
        "{text}"
    );
    assert!(
        text.contains("configured domains with reports in this period: example.com\n"),
        "{text}"
    );

    // Reports from before the period: how many, the latest, and the
    // `--since` that shows it (which does).
    let output = reports(
        &world.config,
        &["--domain", "example.com", "--since", "12h"],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("example.com: no reports in this period; 4 reports stored before it, the latest ending "),
        "{text}"
    );
    assert!(text.contains("(`--since 2d` shows it)\n"), "{text}");
    assert!(
        text.contains("no other configured domain has reports in this period"),
        "{text}"
    );
    let output = reports(&world.config, &["--domain", "example.com", "--since", "2d"]);
    let text = stdout(&output);
    assert!(
        text.contains("example.com: ") && !text.contains("no reports in this period"),
        "{text}"
    );

    // The same in JSON: configured, and the latest stored report's end.
    let output = reports(
        &world.config,
        &[
            "--output",
            "json",
            "--domain",
            "quiet.example",
            "--domain",
            "nothing.example",
            "--domain",
            "example.com",
            "--since",
            "12h",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    let domains = json["domains"].as_array().cloned().unwrap_or_default();
    let of = |name: &str| {
        domains
            .iter()
            .find(|d| d["domain"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {json}"))
    };
    assert_eq!(of("quiet.example")["configured"], true);
    assert_eq!(
        of("quiet.example")["last_stored_report_end"],
        serde_json::Value::Null
    );
    assert_eq!(of("nothing.example")["configured"], false);
    assert_eq!(of("example.com")["configured"], true);
    assert_eq!(
        of("example.com")["last_report_end"],
        serde_json::Value::Null
    );
    let last = of("example.com")["last_stored_report_end"]
        .as_i64()
        .unwrap_or(0);
    assert!((now() - 2 * DAY..now()).contains(&last), "{last}");

    // Malformed arguments: a clear error and exit 2, nothing on stdout.
    for args in [
        &["--since", "7"][..],
        &["--since", "-1d"][..],
        &["--since", "1d1d"][..],
        &["--since", ""][..],
        &["--domain", ""][..],
        &["--domain", "a..b"][..],
    ] {
        let output = reports(&world.config, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&output)
        );
        assert!(
            stderr(&output).starts_with("error: "),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}
