//! Hostile policy servers: each probe ends within its timeout with a
//! classified failure, and the exporter keeps serving /metrics and probing
//! the other domains meanwhile.

mod support;

use std::time::{Duration, Instant};
use support::harness::{get, parse_exposition, start_exporter_in, wait_ready};
use support::https::{policy_text, HttpBehavior, PolicyHost};
use support::world::{ConfigOverrides, WorldSpec};

/// (domain, behaviour, expected result type and reason; None: passes).
type Case = (
    &'static str,
    HttpBehavior,
    Option<(&'static str, &'static str)>,
);

const CASES: &[Case] = &[
    (
        "trickle.test",
        HttpBehavior::Trickle,
        Some(("sts-policy-fetch-error", "cannot-fetch-policy")),
    ),
    (
        "endless.test",
        HttpBehavior::EndlessBody,
        Some(("sts-policy-invalid", "policy-syntax-error")),
    ),
    (
        "headers.test",
        HttpBehavior::HugeHeaders,
        Some(("sts-policy-fetch-error", "cannot-fetch-policy")),
    ),
    ("http10.test", HttpBehavior::Http10NoLength, None),
    (
        "silent.test",
        HttpBehavior::SilentTcp,
        Some(("sts-policy-fetch-error", "cannot-fetch-policy")),
    ),
    (
        "alert.test",
        HttpBehavior::TlsAlert,
        Some(("sts-policy-fetch-error", "cannot-fetch-policy")),
    ),
];

#[tokio::test]
async fn hostile_policy_servers_are_classified_and_contained() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    );
    for (domain, behavior, _) in CASES {
        spec.mta_sts_domain(domain, "1", "").policy_host(
            &format!("mta-sts.{domain}"),
            PolicyHost::ok(&policy_text(
                "enforce",
                &[&format!("mx1.{domain}")],
                1_209_600,
            ))
            .behaving(*behavior),
        );
    }
    // A redirect loop: the policy URL redirects to itself.
    spec.mta_sts_domain("loop.test", "1", "").policy_host(
        "mta-sts.loop.test",
        PolicyHost::status(
            301,
            &[(
                "location",
                "https://mta-sts.loop.test/.well-known/mta-sts.txt",
            )],
        ),
    );
    let mut domains: Vec<&str> = CASES.iter().map(|(d, _, _)| *d).collect();
    domains.push("loop.test");
    domains.push("good.test");
    let started = Instant::now();
    let entries: Vec<String> = domains
        .iter()
        .map(|d| format!("{{name: {d}, timeout: 3s}}"))
        .collect();
    let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
    let running = start_exporter_in(spec, &entries, ConfigOverrides::default()).await;

    // While the hostile probes run, /metrics answers and the healthy domain
    // has been probed.
    let mut good_seen = false;
    for _ in 0..40 {
        let scrape_started = Instant::now();
        let (status, body) = get(&format!("{}/metrics", running.base)).await;
        assert_eq!(status, 200);
        // The hostile probes stall up to their 3 s timeout: a scrape that
        // waited on one would take that long (not a speed check).
        assert!(
            scrape_started.elapsed() < Duration::from_secs(3),
            "a scrape waited on probes"
        );
        if body.contains(r#"mtasts_probe_success{domain="good.test"} 1"#) {
            good_seen = true;
            assert!(
                !body.contains(r#"mtasts_probe_success{domain="trickle.test"}"#),
                "trickle ended too early"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(good_seen, "the healthy domain waited for hostile ones");

    wait_ready(&running.base).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "probes not bounded by their timeout"
    );
    let (_, body) = get(&format!("{}/metrics", running.base)).await;
    let m = parse_exposition(&body);
    for (domain, behavior, expected) in CASES.iter().map(|(d, b, e)| (*d, Some(*b), *e)).chain([(
        "loop.test",
        None,
        Some(("sts-policy-fetch-error", "cannot-fetch-policy")),
    )]) {
        let success = m[&format!(r#"mtasts_probe_success{{domain="{domain}"}}"#)];
        match expected {
            None => assert_eq!(success, 1.0, "{domain} ({behavior:?})"),
            Some((result_type, reason)) => {
                assert_eq!(success, 0.0, "{domain}");
                let series = format!(
                    r#"mtasts_probe_failed{{domain="{domain}",phase="policy_fetch",reason="{reason}",result_type="{result_type}"}}"#
                );
                assert_eq!(
                    m.get(&series),
                    Some(&1.0),
                    "{domain} ({behavior:?}): {series}\n{body}"
                );
                let duration = m[&format!(r#"mtasts_probe_duration_seconds{{domain="{domain}"}}"#)];
                assert!(duration < 5.0, "{domain}: {duration}s");
            }
        }
    }
}

#[tokio::test]
async fn hostile_dns_answers_are_bounded_and_classified() {
    let mut spec = WorldSpec::new();
    let policy = |d: &str| policy_text("enforce", &[&format!("mx1.{d}")], 1_209_600);
    // A TXT set near 64 KiB at _mta-sts (forces truncation, then TCP): 200
    // non-STS records of 250 bytes beside the real one.
    spec.mta_sts_domain("bigset.test", "1", &policy("bigset.test"));
    for i in 0..200 {
        spec.txt(
            "_mta-sts.bigset.test",
            &format!("filler-{i:03}-{}", "z".repeat(240)),
        );
    }
    // One TXT record of thousands of character-strings: an STS record whose
    // id is split over 2,000 strings is not valid (id longer than 32).
    let mut strings = vec!["v=STSv1; id="];
    strings.extend(std::iter::repeat_n("a", 2000));
    spec.txt_strings("_mta-sts.manystrings.test", &strings).mx(
        "manystrings.test",
        10,
        "mx1.manystrings.test",
    );
    // No answer at all.
    spec.blackhole("_mta-sts.silent.test")
        .mx("silent.test", 10, "mx1.silent.test");
    // CNAME loops, across two zones and onto itself: no TXT record at the
    // end of the chain, so no policy, found at once rather than chased.
    spec.cname("_mta-sts.loopy.test", "_mta-sts.loopy2.test")
        .cname("_mta-sts.loopy2.test", "_mta-sts.loopy.test")
        .mx("loopy.test", 10, "mx1.loopy.test")
        .cname("_mta-sts.self.test", "_mta-sts.self.test")
        .mx("self.test", 10, "mx1.self.test");
    let world = spec.start().await;
    let mut config = world.config(&[
        "bigset.test",
        "manystrings.test",
        "silent.test",
        "loopy.test",
        "self.test",
    ]);
    config.resolver.timeout = std::time::Duration::from_secs(1);
    for domain in &mut config.domains {
        domain.settings.timeout = std::time::Duration::from_secs(4);
        domain.settings.check_starttls = false;
    }
    let prober = mtasts_exporter::probe::Prober::new(&config).unwrap();
    let started = Instant::now();
    let reports = mtasts_exporter::check::run_checks(&prober, &config.domains, 8).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    let bigset = &reports[0];
    assert!(bigset.success, "{:#?}", bigset.failures);
    assert!(bigset
        .warnings
        .contains(&mtasts_exporter::report::Warning::NonStsTxtAtMtaSts));

    let many = &reports[1];
    assert_eq!(many.failures[0].reason.as_str(), "record-syntax-error");
    assert!(many.failures[0].detail.len() <= mtasts_exporter::taxonomy::MAX_DETAIL_LEN);

    for looped in &reports[3..5] {
        let failure = &looped.failures[0];
        assert_eq!(
            (failure.result_type.as_str(), &*failure.reason.as_str()),
            ("no-policy-found", "no-mta-sts-dns-txt-record"),
            "{}: {}",
            looped.domain,
            failure.detail
        );
        // Ended by detecting the loop, not by the probe's 4 s timeout.
        assert!(looped.duration_seconds < 4.0, "{}", looped.duration_seconds);
        assert!(
            failure.detail.contains("it is a CNAME to _mta-sts."),
            "{}",
            failure.detail
        );
    }

    // A server whose answers carry the wrong message ID: dropped, so the
    // lookup times out.
    let (spoofer, _task) = support::dns::spoofing_dns_server().await;
    let mut spoofed_config = world.config(&["spoofed.test"]);
    spoofed_config.resolver.nameservers = vec![spoofer];
    spoofed_config.resolver.timeout = std::time::Duration::from_secs(1);
    spoofed_config.domains[0].settings.timeout = std::time::Duration::from_secs(4);
    spoofed_config.domains[0].settings.check_mx = false;
    let spoofed_prober = mtasts_exporter::probe::Prober::new(&spoofed_config).unwrap();
    let spoofed = spoofed_prober.probe(&spoofed_config.domains[0]).await;

    for report in reports[2..3].iter().chain([&spoofed]) {
        let failure = &report.failures[0];
        assert_eq!(
            (failure.result_type.as_str(), &*failure.reason.as_str()),
            ("sts-policy-fetch-error", "dns-lookup"),
            "{}: {}",
            report.domain,
            failure.detail
        );
        assert!(
            failure.detail.contains("timed out"),
            "{}: {}",
            report.domain,
            failure.detail
        );
    }
}

/// MX answers whose exchange names hold bytes a DNS label may carry but a
/// host name may not (a quote, a newline, a control byte, an underscore, a
/// byte above 127): each host is reported in DNS presentation form (printable
/// ASCII, backslash escapes), fails the policy match and the address lookup,
/// and every metric line stays printable and parseable.
#[tokio::test]
async fn hostile_mx_names_stay_printable_and_fail_the_match() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "weirdmx.test",
        "1",
        &policy_text("enforce", &["mx1.weirdmx.test"], 1_209_600),
    )
    .mx_raw_labels(
        "weirdmx.test",
        20,
        &[b"a\"b\nc\x01_\xff", b"weirdmx", b"test"],
    );
    let running = start_exporter_in(spec, &["weirdmx.test"], ConfigOverrides::default()).await;
    wait_ready(&running.base).await;
    let (_, body) = get(&format!("{}/metrics", running.base)).await;
    for line in body.lines().filter(|line| !line.starts_with('#')) {
        assert!(
            line.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "not printable: {line:?}"
        );
    }
    let m = parse_exposition(&body);
    // hickory's presentation form `a\"b\012c\001_\377` (its escapes are
    // octal), escaped again as a label value.
    let weird = r#"a\\\"b\\012c\\001_\\377.weirdmx.test"#;
    assert_eq!(
        m.get(&format!(
            r#"mtasts_mx_policy_match{{domain="weirdmx.test",mx="{weird}"}}"#
        )),
        Some(&0.0),
        "{body}"
    );
    assert_eq!(
        m.get(r#"mtasts_mx_policy_match{domain="weirdmx.test",mx="mx1.weirdmx.test"}"#),
        Some(&1.0),
        "{body}"
    );
    assert_eq!(
        m.get(r#"mtasts_probe_failed{domain="weirdmx.test",phase="mx_lookup",reason="mtasts-policy-mx-mismatch",result_type="validation-failure"}"#),
        Some(&1.0),
        "{body}"
    );
    // No address can be looked up for a name that is not a host name: the
    // failure says so without asking DNS, and the good MX host is still
    // checked.
    assert_eq!(
        m.get(r#"mtasts_probe_failed{domain="weirdmx.test",phase="starttls",reason="no-address",result_type="validation-failure"}"#),
        Some(&1.0),
        "{body}"
    );
    assert_eq!(
        m.get(r#"mtasts_mx_starttls{domain="weirdmx.test",mx="mx1.weirdmx.test"}"#),
        Some(&1.0),
        "{body}"
    );
}
