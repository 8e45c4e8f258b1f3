//! The TLSRPT report spool: a report is stored once whichever way and
//! however often it arrives (RFC 8460 §5.6: organization and report id
//! identify it), a restart rebuilds the same counts, a crash mid-write
//! leaves nothing that counts, and old reports go after the retention.

use mtasts_exporter::rfc::rfc8460::report::Report;
use mtasts_exporter::rfc::rfc8460::report_body::{decode_report, DEFAULT_DECOMPRESSED_LIMIT};
use mtasts_exporter::tlsrpt::spool::{report_key, Spool, Stored, SPOOL_DIR};
use mtasts_exporter::tlsrpt::tally::Tally;
use std::path::{Path, PathBuf};

/// 2026-11-30T23:59:59Z, the end of every fixture's day.
const DAY_END: i64 = 1_796_083_199;

fn fixture(name: &str) -> (Vec<u8>, Report) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/tlsrpt", name]
        .iter()
        .collect();
    let raw = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let report = decode_report(&raw, DEFAULT_DECOMPRESSED_LIMIT)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    (raw, report)
}

fn open(dir: &Path) -> Spool {
    Spool::open(dir, DEFAULT_DECOMPRESSED_LIMIT).unwrap_or_else(|error| panic!("{error}"))
}

fn store(spool: &Spool, name: &str) -> Stored {
    let (raw, report) = fixture(name);
    spool
        .store(&report, &raw)
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn stored_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{error}"))
        .map(|entry| {
            entry
                .unwrap_or_else(|error| panic!("{error}"))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// What adding each fixture once gives.
fn expected_tally(names: &[&str]) -> Tally {
    let mut tally = Tally::default();
    for name in names {
        tally.add(&fixture(name).1, |domain| domain == "example.com");
    }
    tally
}

fn is_example_com(domain: &str) -> bool {
    domain == "example.com"
}

#[test]
fn a_report_arriving_twice_or_by_both_channels_is_stored_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let spool = open(dir.path());
    let google = report_key("Google Inc.", "2026-11-30T00:00:00Z_example.com");
    assert_eq!(
        store(&spool, "google.json"),
        Stored::New(format!("{google}.report"))
    );
    // A sender's retry.
    assert_eq!(
        store(&spool, "google.json"),
        Stored::Duplicate(format!("{google}.report"))
    );
    // Gzipped over HTTPS, then as plain JSON by mail: the same report.
    let microsoft = report_key("Microsoft Corporation", "134089920000000000+example.com");
    assert_eq!(
        store(&spool, "microsoft.json.gz"),
        Stored::New(format!("{microsoft}.report"))
    );
    assert_eq!(
        store(&spool, "microsoft.json"),
        Stored::Duplicate(format!("{microsoft}.report"))
    );
    let mut expected = vec![format!("{google}.report"), format!("{microsoft}.report")];
    expected.sort();
    assert_eq!(stored_files(spool.reports_dir()), expected);
    // The bytes kept are the first ones received (the gzip body).
    let kept = std::fs::read(spool.reports_dir().join(format!("{microsoft}.report")))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(kept, fixture("microsoft.json.gz").0);
    assert!(stored_files(&dir.path().join(SPOOL_DIR).join("tmp")).is_empty());
}

#[test]
fn the_same_report_stored_at_once_by_several_threads_is_stored_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let spool = open(dir.path());
    let results: Vec<Stored> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| store(&spool, "microsoft.json")))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| panic!("thread")))
            .collect()
    });
    let new = results
        .iter()
        .filter(|r| matches!(r, Stored::New(_)))
        .count();
    assert_eq!(new, 1, "{results:?}");
    assert_eq!(stored_files(spool.reports_dir()).len(), 1);
}

#[test]
fn a_restart_rebuilds_the_same_counts() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let names = [
        "google.json",
        "microsoft.json.gz",
        "result-type-unknown.json",
    ];
    {
        let spool = open(dir.path());
        for name in names {
            assert!(matches!(store(&spool, name), Stored::New(_)));
        }
        store(&spool, "microsoft.json");
    }
    let expected = expected_tally(&names);
    for _restart in 0..2 {
        let spool = open(dir.path());
        let rebuilt = spool
            .rebuild(DAY_END + 86_400, 400, is_example_com)
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(rebuilt.reports, 3);
        assert_eq!((rebuilt.expired, rebuilt.unusable_count), (0, 0));
        assert_eq!(rebuilt.tally, expected);
        let senders = &rebuilt.tally.domains["example.com"];
        let sender = |name: &str| {
            senders
                .get(name)
                .unwrap_or_else(|| panic!("{name} counted"))
                .clone()
        };
        assert_eq!(sender("Microsoft Corporation").reports, 1);
        assert_eq!(sender("Google Inc.").last_report_end, DAY_END);
    }
    // Reports about domains not watched are read, not counted.
    let rebuilt = open(dir.path())
        .rebuild(DAY_END, 400, |domain| domain == "example.org")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((rebuilt.reports, rebuilt.not_included), (0, 3));
    assert!(rebuilt.tally.domains.is_empty());
}

#[test]
fn a_crash_mid_write_leaves_nothing_that_counts() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let (raw, report) = fixture("microsoft.json");
    {
        let spool = open(dir.path());
        store(&spool, "google.json");
    }
    // What a crash leaves: the first half of a report in a temporary file,
    // never linked to its name.
    let tmp = dir.path().join(SPOOL_DIR).join("tmp");
    let key = report_key(&report.organization_name, &report.report_id);
    std::fs::write(tmp.join(format!("{key}.4242.0")), &raw[..raw.len() / 2])
        .unwrap_or_else(|error| panic!("{error}"));
    let spool = open(dir.path());
    assert!(
        stored_files(&tmp).is_empty(),
        "leftovers removed at start-up"
    );
    let rebuilt = spool
        .rebuild(DAY_END, 400, is_example_com)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(rebuilt.reports, 1);
    assert_eq!(rebuilt.tally, expected_tally(&["google.json"]));
    // The sender's retry is then stored as new.
    assert_eq!(
        spool.store(&report, &raw).ok(),
        Some(Stored::New(format!("{key}.report")))
    );
}

#[test]
fn files_that_do_not_decode_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let spool = open(dir.path());
    store(&spool, "google.json");
    let broken = spool.reports_dir().join("0123.report");
    std::fs::write(&broken, b"{\"organization-name\":").unwrap_or_else(|error| panic!("{error}"));
    let rebuilt = spool
        .rebuild(DAY_END, 400, is_example_com)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((rebuilt.reports, rebuilt.unusable_count), (1, 1));
    assert_eq!(rebuilt.unusable[0].0, broken);
    assert!(
        rebuilt.unusable[0].1.contains("JSON"),
        "{:?}",
        rebuilt.unusable
    );
}

#[test]
fn reports_past_the_retention_are_removed() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let spool = open(dir.path());
    store(&spool, "google.json");
    store(&spool, "microsoft.json");
    let kept = spool
        .rebuild(DAY_END + 400 * 86_400, 400, is_example_com)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((kept.reports, kept.expired), (2, 0));
    let gone = spool
        .rebuild(DAY_END + 400 * 86_400 + 1, 400, is_example_com)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((gone.reports, gone.expired), (0, 2));
    assert!(stored_files(spool.reports_dir()).is_empty());
}

#[test]
fn a_different_report_under_the_same_key_gets_a_name_of_its_own() {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let spool = open(dir.path());
    let (raw, report) = fixture("microsoft.json");
    let key = report_key(&report.organization_name, &report.report_id);
    // Another report where this one's key would go: a hash collision.
    std::fs::write(
        spool.reports_dir().join(format!("{key}.report")),
        fixture("google.json").0,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        spool.store(&report, &raw).ok(),
        Some(Stored::New(format!("{key}-1.report")))
    );
    assert_eq!(
        spool.store(&report, &raw).ok(),
        Some(Stored::Duplicate(format!("{key}-1.report")))
    );
    let rebuilt = spool
        .rebuild(DAY_END, 400, is_example_com)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        rebuilt.tally,
        expected_tally(&["google.json", "microsoft.json"])
    );
}
