//! The recent-report summaries shown to people stay bounded whatever is
//! fed: eleven times as many hostile reports (every string at the
//! parser's cap, every sender a new one, 200 failure details each, dates
//! in any order) hold no more memory than the first 500, measured by a
//! counting allocator. One test in this binary, so no other test's
//! allocations are counted.

use mtasts_exporter::rfc::rfc8460::report::{
    DateRange, FailureDetail, PolicyReport, PolicyType, Report, ReportResultType,
    MAX_FAILURE_DETAILS, MAX_TEXT_CHARS,
};
use mtasts_exporter::tlsrpt::recent::{Limits, RecentReports};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes held now.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            HELD.fetch_add(layout.size(), Ordering::SeqCst);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        HELD.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DOMAINS: [&str; 3] = ["a.test", "b.test", "c.test"];

/// A string of `MAX_TEXT_CHARS` characters (the parser's cap), of four
/// bytes each, starting with `tag`.
fn long(tag: &str) -> String {
    let mut text = format!("{tag}<script>");
    while text.chars().count() < MAX_TEXT_CHARS {
        text.push('𝔵');
    }
    text
}

/// Report `i`: a new sender each time, a date that jumps back and forth,
/// one policy per domain (and one not included) with the most failure
/// details the parser keeps.
fn hostile(i: u64) -> Report {
    let end = 1_800_000_000 + i64::try_from(i * 7919 % 100_003).unwrap_or(0) * 600;
    let detail = FailureDetail {
        result_type: ReportResultType::Other,
        result_type_text: Some(long("type")),
        sending_mta_ip: "192.0.2.1".parse().ok(),
        receiving_mx_hostname: Some(long("mx")),
        receiving_mx_helo: Some(long("helo")),
        receiving_ip: "2001:db8::25".parse().ok(),
        failed_session_count: 1,
        additional_information: Some(long("info")),
        failure_reason_code: Some(long("reason")),
    };
    let policy = |domain: &str| PolicyReport {
        policy_type: PolicyType::Sts,
        policy_strings: vec![long("policy"); 8],
        policy_domain: domain.to_string(),
        mx_hosts: vec![long("pattern"); 8],
        successful_sessions: 10,
        failed_sessions: MAX_FAILURE_DETAILS as u64,
        failure_details: vec![detail.clone(); MAX_FAILURE_DETAILS],
        failure_details_dropped: 0,
        failed_sessions_dropped: 0,
    };
    Report {
        organization_name: long(&format!("org{i}")),
        report_id: long(&format!("id{i}")),
        contact_info: Some(long("contact")),
        date_range: DateRange {
            start: end - 86_400,
            end,
        },
        policies: DOMAINS
            .iter()
            .chain(&["not-configured.test"])
            .map(|d| policy(d))
            .collect(),
        policies_dropped: 0,
        policies_unusable: 0,
        repairs: BTreeSet::new(),
    }
}

#[test]
fn summaries_hold_the_same_memory_after_ten_times_the_reports() {
    let included = |domain: &str| DOMAINS.contains(&domain);
    let before = HELD.load(Ordering::SeqCst);
    let mut recent = RecentReports::new(Limits::default());
    for i in 0..500 {
        assert!(recent.add(&hostile(i), included));
    }
    let after_first = HELD.load(Ordering::SeqCst) - before;
    for i in 500..5_500 {
        recent.add(&hostile(i), included);
    }
    let after_all = HELD.load(Ordering::SeqCst) - before;
    let limits = recent.limits();
    let summaries: usize = recent
        .domains()
        .map(|(_, d)| d.latest.len() + d.by_sender.len())
        .sum();
    eprintln!(
        "held after 500 reports: {after_first} bytes; after 5,500: {after_all} bytes; {summaries} summaries"
    );
    assert_eq!(recent.domains().count(), DOMAINS.len());
    for (_, domain) in recent.domains() {
        assert_eq!(domain.latest.len(), limits.reports_per_domain);
        assert_eq!(domain.by_sender.len(), limits.senders_per_domain);
        for summary in domain.latest.iter().chain(domain.by_sender.values()) {
            assert!(summary.details.len() <= limits.details_per_report);
            assert!(summary.organization.len() < 4 * 100 + 30, "capped");
        }
    }
    // The same bound whatever was fed: a summary of at most 20 details,
    // each with three strings of at most 100 four-byte characters, is
    // under 40 KiB, and the latest reports and the senders' latest are at
    // most 70 per domain (shared when the same).
    let bound = DOMAINS.len() * (limits.reports_per_domain + limits.senders_per_domain) * 40 * 1024;
    assert!(after_all <= bound, "{after_all} bytes over {bound}");
    assert!(
        after_all <= after_first + after_first / 10,
        "grew from {after_first} to {after_all} bytes"
    );
    drop(recent);
}
