//! The status page `/` and the domain pages `/domain/<name>` over HTTP, on
//! the fake world: the header's counts agree with `/metrics`, failing
//! domains come first, the name and status filters select rows, a domain's
//! page names its failing MX host, unknown names are 404 without an echo,
//! values from the network are escaped, and a refused reload is shown.
//! (The same page in a real browser: `scripts/browser-test.sh`.)

mod support;

use std::collections::HashMap;
use support::ca::CertKind;
use support::harness::{get, parse_exposition, request, start_exporter_in, wait_ready, Running};
use support::https::{policy_text, PolicyHost};
use support::smtp::SmtpBehavior;
use support::world::{ConfigOverrides, WorldSpec};

fn world_spec() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    )
    .mta_sts_domain(
        "miss.test",
        "1",
        &policy_text("testing", &["mx1.miss.test"], 1_209_600),
    )
    .mx("miss.test", 20, "other.elsewhere.test")
    .mx("plain.test", 10, "mx.plain.test");
    // evil.test: healthy but for a TLSRPT record from the network that
    // would be markup if it were not escaped.
    spec.txt("_mta-sts.evil.test", "v=STSv1; id=1")
        .a("mta-sts.evil.test")
        .policy_host(
            "mta-sts.evil.test",
            PolicyHost::ok(&policy_text("enforce", &["mx1.evil.test"], 1_209_600)),
        )
        .mx("evil.test", 10, "mx1.evil.test")
        .smtp_host("mx1.evil.test", SmtpBehavior::Tls(CertKind::Valid))
        .txt(
            "_smtp._tls.evil.test",
            "v=TLSRPTv1; rua=<script>alert(1)</script>",
        );
    spec
}

const DOMAINS: [&str; 4] = ["good.test", "miss.test", "plain.test", "evil.test"];

async fn start() -> Running {
    let running = start_exporter_in(world_spec(), &DOMAINS, ConfigOverrides::default()).await;
    wait_ready(&running.base).await;
    running
}

/// The `data-count` of the card `id="count-KEY"`.
fn card(page: &str, key: &str) -> usize {
    let marker = format!("id=\"count-{key}\" data-count=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no card {key}"))
        + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].parse().unwrap()
}

/// The (domain, status) of each table row, in order.
fn rows(page: &str) -> Vec<(String, String)> {
    page.split("<tr data-domain=\"")
        .skip(1)
        .map(|rest| {
            let (domain, rest) = rest.split_once('"').unwrap();
            let status = rest
                .split_once("data-status=\"")
                .and_then(|(_, s)| s.split_once('"'))
                .map(|(s, _)| s)
                .unwrap();
            (domain.to_string(), status.to_string())
        })
        .collect()
}

#[tokio::test]
async fn the_header_counts_agree_with_metrics_and_failing_domains_come_first() {
    let running = start().await;
    let (status, page) = get(&format!("{}/", running.base)).await;
    assert_eq!(status, 200);
    let (_, body) = get(&format!("{}/metrics", running.base)).await;
    let metrics = parse_exposition(&body);
    let success: HashMap<&str, f64> = DOMAINS
        .iter()
        .map(|d| {
            (
                *d,
                metrics[&format!("mtasts_probe_success{{domain=\"{d}\"}}")],
            )
        })
        .collect();
    let failing = success.values().filter(|v| **v == 0.0).count();
    let passing = success.values().filter(|v| **v == 1.0).count();
    assert_eq!(failing, 2, "{success:?}");
    assert_eq!(card(&page, "failing"), failing);
    assert_eq!(card(&page, "ok") + card(&page, "warning"), passing);
    assert_eq!(card(&page, "not-probed"), 0);
    assert_eq!(card(&page, "all"), DOMAINS.len());
    // evil.test's TLSRPT record is invalid: a warning, not a failure.
    assert_eq!(card(&page, "warning"), 1);
    assert!(metrics.contains_key(
        r#"mtasts_policy_warning{domain="evil.test",warning="tlsrpt-record-invalid"}"#
    ));

    let order = rows(&page);
    assert_eq!(
        order,
        [
            ("miss.test".to_string(), "failing".to_string()),
            ("plain.test".into(), "failing".into()),
            ("evil.test".into(), "warning".into()),
            ("good.test".into(), "ok".into()),
        ]
    );
    // The failure in words, with the MX host it concerns.
    assert!(
        page.contains("mtasts-policy-mx-mismatch</span> on <code>other.elsewhere.test</code>"),
        "{page}"
    );
    assert!(page.contains("no-mta-sts-dns-txt-record</span> in record lookup"));
    assert!(page.contains("configuration loaded"));
    assert!(!page.contains("id=\"reload-failed\""));
}

#[tokio::test]
async fn the_filters_select_by_name_and_status() {
    let running = start().await;
    let names = |page: &str| -> Vec<String> { rows(page).into_iter().map(|(d, _)| d).collect() };
    let (_, page) = get(&format!("{}/?q=GOOD", running.base)).await;
    assert_eq!(names(&page), ["good.test"]);
    assert!(page.contains("value=\"good\""), "the form keeps the filter");
    let (_, page) = get(&format!("{}/?status=failing", running.base)).await;
    assert_eq!(names(&page), ["miss.test", "plain.test"]);
    assert!(page.contains("<option value=\"failing\" selected>"));
    let (_, page) = get(&format!("{}/?status=ok&q=.test", running.base)).await;
    assert_eq!(names(&page), ["good.test"]);
    let (_, page) = get(&format!("{}/?q=nothing-like-it", running.base)).await;
    assert!(names(&page).is_empty());
    assert!(page.contains("No domain matches."));
    // Nonsense falls back to the defaults, and is not echoed as markup.
    let (status, page) = get(&format!(
        "{}/?status=%3Cb%3E&page=-3&q=%3Cscript%3E",
        running.base
    ))
    .await;
    assert_eq!(status, 200);
    assert!(!page.contains("<script>"));
    assert!(page.contains("value=\"&lt;script&gt;\""));
}

#[tokio::test]
async fn a_domain_page_shows_what_check_shows() {
    let running = start().await;
    let (status, page) = get(&format!("{}/domain/miss.test", running.base)).await;
    assert_eq!(status, 200);
    assert!(page.contains("<span class=\"badge failing\" id=\"status\">failing</span>"));
    // The failing MX host: in the failures, with its policy verdict.
    assert!(
        page.contains(
            "<td class=\"fail code\">mtasts-policy-mx-mismatch</td><td><code>other.elsewhere.test</code></td>"
        ),
        "{page}"
    );
    assert!(page.contains("<tr data-mx=\"other.elsewhere.test\">"));
    // With what to do, from the remedy table `check` prints too.
    assert!(page.contains("<th>What to do</th>"));
    assert!(
        page.contains("Add the MX host (or a <code>*.</code> pattern that covers it)"),
        "{page}"
    );
    assert!(page.contains("<span class=\"fail\">not covered</span>"));
    // Record, policy text, certificates, TLSRPT, timings.
    assert!(page.contains("v=STSv1; id=1"));
    assert!(page.contains("mode: testing"));
    assert!(page.contains("names mx1.miss.test"));
    assert!(page.contains("reports to <code>mailto:tlsrpt@miss.test</code>"));
    for phase in [
        "record_lookup",
        "policy_fetch",
        "mx_lookup",
        "starttls",
        "tlsrpt_lookup",
    ] {
        assert!(page.contains(&format!("<tr><td>{phase}</td>")), "{phase}");
    }
    // Any spelling of a configured name finds it.
    assert_eq!(
        get(&format!("{}/domain/GOOD.test.", running.base)).await.0,
        200
    );

    let (status, page) = get(&format!("{}/domain/evil.test", running.base)).await;
    assert_eq!(status, 200);
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
}

#[tokio::test]
async fn only_probed_domains_have_a_page_and_nothing_is_echoed() {
    let running = start().await;
    for path in [
        "/domain/unknown.test".to_string(),
        "/domain/".into(),
        "/domain/%3Cscript%3E".into(),
        "/domain/good.test/extra".into(),
        format!("/domain/{}", "a".repeat(5000)),
    ] {
        let (status, body) = get(&format!("{}{path}", running.base)).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("unknown") && !body.contains("script") && !body.contains("aaaa"));
    }
}

#[tokio::test]
async fn a_refused_reload_is_shown_until_one_succeeds() {
    let running = start().await;
    let good = std::fs::read_to_string(&running.config_path).unwrap();
    std::fs::write(&running.config_path, format!("interval: 0s\n{good}")).unwrap();
    let reload = format!("{}/-/reload", running.base);
    let (status, _) = request(reqwest::Method::POST, &reload, None).await;
    assert_eq!(status, 500);
    let (_, page) = get(&format!("{}/", running.base)).await;
    assert!(page.contains("id=\"reload-failed\""), "{page}");
    assert!(
        page.contains("field interval: must be at least 1s"),
        "{page}"
    );
    assert!(page.contains("the configuration loaded before stays in force"));
    // The domains are still listed from the configuration in force.
    assert_eq!(rows(&page).len(), DOMAINS.len());

    std::fs::write(&running.config_path, good).unwrap();
    let (status, _) = request(reqwest::Method::POST, &reload, None).await;
    assert_eq!(status, 200);
    let (_, page) = get(&format!("{}/", running.base)).await;
    assert!(!page.contains("id=\"reload-failed\""), "{page}");
}

#[tokio::test]
async fn a_shard_lists_its_share_and_says_so() {
    let running = start_exporter_in(
        world_spec(),
        &DOMAINS,
        ConfigOverrides {
            extra: "shard: {index: 1, count: 2}\n",
            ..ConfigOverrides::default()
        },
    )
    .await;
    wait_ready(&running.base).await;
    let (_, body) = get(&format!("{}/metrics", running.base)).await;
    let share = parse_exposition(&body)["mtasts_domains_configured"] as usize;
    let (_, page) = get(&format!("{}/", running.base)).await;
    assert!(
        page.contains(&format!("shard 1 of 2 ({share} of 4 configured domains)")),
        "{page}"
    );
    assert_eq!(rows(&page).len(), share);
    assert_eq!(card(&page, "all"), share);
    // A domain of the other shard has no page here.
    let other = DOMAINS
        .iter()
        .find(|d| !rows(&page).iter().any(|(name, _)| name == *d))
        .expect("the other shard has a domain");
    assert_eq!(
        get(&format!("{}/domain/{other}", running.base)).await.0,
        404
    );
}
