//! A runnable fake world on loopback, for trying the exporter by hand (and
//! for end-to-end runs): DNS and HTTPS servers with healthy and broken
//! MTA-STS domains. It writes an exporter config pointing at itself and
//! serves until interrupted.
//!
//! ```sh
//! cargo run --example fake_world -- /tmp/world.yml
//! cargo run -- --config.file /tmp/world.yml --web.listen-address 127.0.0.1:10461
//! ```
//!
//! `fake_world --bench N [--smtp K] [--hostile H] [--hostile-smtp S] [--hostile-dns D] OUT.yml` makes a benchmark
//! world instead (the last H domains with hostile policy servers: endless
//! bodies, 1 MiB of headers, slowloris):
//! N healthy domains `dI.test` (record, policy, MX, TLSRPT), the first K
//! of them with an MX host of their own that speaks STARTTLS (the first S of
//! those hostile: endless greeting, no banner, stall or garbage after
//! STARTTLS, close after the 220), and the D domains before the hostile
//! ones with `_mta-sts` answers near 64 KiB. `--mx-hosts M` gives the
//! other domains M MX hosts `mxJ.bench.test` to share (domain I's is
//! J = I % M, at 127.0.1.{J + 1}, STARTTLS with a valid certificate), as
//! `examples/real_world.rs` has them: the bench's `--starttls`.

#[path = "../tests/support/mod.rs"]
mod support;

use support::ca::CertKind;
use support::https::{policy_text, HttpBehavior, PolicyHost};
use support::smtp::SmtpBehavior;
use support::world::{MxAddress, WorldSpec};

/// The domains of the world and what is wrong with each.
const DOMAINS: &[(&str, &str)] = &[
    ("good.test", "healthy, mode enforce"),
    ("testing.test", "healthy, mode testing"),
    ("none.test", "mode none"),
    ("norecord.test", "no _mta-sts record"),
    ("tworecords.test", "two STS records"),
    ("expired.test", "policy host certificate expired"),
    ("notfound.test", "policy answers 404"),
    ("badpolicy.test", "policy syntax error"),
    ("mxmiss.test", "an MX host not covered by the policy"),
    ("servfail.test", "SERVFAIL for the record lookup"),
    ("mxexpired.test", "MX host certificate expired"),
    ("nostarttls.test", "MX host does not offer STARTTLS"),
    ("certsoon.test", "policy host certificate expires in 5 days"),
    (
        "nomxcover.test",
        "mode enforce, an MX host not listed, STARTTLS fine",
    ),
    (
        "dualstack.test",
        "MX host fine over IPv4, expired certificate over IPv6 (::1)",
    ),
    (
        "policyv6.test",
        "policy host serving another policy over IPv6 (::1)",
    ),
];

/// Command line: `[--bench N [--smtp K] [--hostile H] [--hostile-smtp S] [--hostile-dns D]] CONFIG_OUT.yml`.
struct Args {
    bench: Option<usize>,
    smtp: usize,
    hostile: usize,
    hostile_smtp: usize,
    hostile_dns: usize,
    mx_hosts: usize,
    config_path: String,
}

fn parse_args() -> Option<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        bench: None,
        smtp: 0,
        hostile: 0,
        hostile_smtp: 0,
        hostile_dns: 0,
        mx_hosts: 0,
        config_path: String::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => parsed.bench = Some(args.next()?.parse().ok()?),
            "--smtp" => parsed.smtp = args.next()?.parse().ok()?,
            "--hostile" => parsed.hostile = args.next()?.parse().ok()?,
            "--hostile-smtp" => parsed.hostile_smtp = args.next()?.parse().ok()?,
            "--hostile-dns" => parsed.hostile_dns = args.next()?.parse().ok()?,
            "--mx-hosts" => parsed.mx_hosts = args.next()?.parse().ok()?,
            path => parsed.config_path = path.to_string(),
        }
    }
    (!parsed.config_path.is_empty()).then_some(parsed)
}

/// The benchmark world: `n` healthy domains sharing one MX host, the first
/// `smtp` with a STARTTLS MX host of their own.
fn bench_world(
    n: usize,
    smtp: usize,
    hostile: usize,
    hostile_smtp: usize,
    hostile_dns: usize,
    mx_hosts: usize,
) -> WorldSpec {
    const HOSTILE_SMTP: [SmtpBehavior; 5] = [
        SmtpBehavior::EndlessLines,
        SmtpBehavior::NoBanner,
        SmtpBehavior::StallAfterStarttls,
        SmtpBehavior::TlsGarbage,
        SmtpBehavior::CloseAfterStarttls,
    ];
    const HOSTILE: [HttpBehavior; 3] = [
        HttpBehavior::EndlessBody,
        HttpBehavior::HugeHeaders,
        HttpBehavior::Trickle,
    ];
    let mut spec = WorldSpec::new();
    spec.a("mx.bench.test");
    // First, so that they take 127.0.1.1 on (as in the real world).
    for j in 0..mx_hosts {
        spec.smtp_host(
            &format!("mx{j}.bench.test"),
            SmtpBehavior::Tls(CertKind::Valid),
        );
    }
    for i in 0..n {
        let domain = format!("d{i}.test");
        let mx = if i < smtp {
            format!("mx.{domain}")
        } else if mx_hosts > 0 {
            format!("mx{}.bench.test", i % mx_hosts)
        } else {
            "mx.bench.test".to_string()
        };
        spec.txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=20240101")
            .a(&format!("mta-sts.{domain}"))
            .policy_host(
                &format!("mta-sts.{domain}"),
                PolicyHost::ok(&policy_text("enforce", &[&mx], 1_209_600)).behaving(
                    if i + hostile >= n {
                        HOSTILE[i % 3]
                    } else {
                        HttpBehavior::Normal
                    },
                ),
            )
            .mx(&domain, 10, &mx)
            .txt(
                &format!("_smtp._tls.{domain}"),
                "v=TLSRPTv1; rua=mailto:tlsrpt@bench.test",
            );
        // Just before the hostile policy servers: `_mta-sts` answers near
        // 64 KiB (200 filler records beside the STS one), over TCP.
        if i + hostile < n && i + hostile + hostile_dns >= n {
            for filler in 0..200 {
                spec.txt(
                    &format!("_mta-sts.{domain}"),
                    &format!("filler-{filler:03}-{}", "z".repeat(240)),
                );
            }
        }
        if i < smtp {
            let behavior = if i < hostile_smtp {
                HOSTILE_SMTP[i % HOSTILE_SMTP.len()]
            } else {
                SmtpBehavior::Tls(CertKind::Valid)
            };
            spec.smtp_host(&mx, behavior);
        }
    }
    spec
}

/// The exporter config for the benchmark world: STARTTLS only where a
/// server listens.
fn bench_config(
    world: &support::World,
    n: usize,
    smtp: usize,
    hostile: usize,
    ca_path: &str,
) -> String {
    let mut yaml = format!(
        "interval: 1h\ntimeout: 30s\ncheck_starttls: false\nconcurrency: 256\nresolver:\n  nameservers: [\"{}\"]\n  timeout: 5s\ntls:\n  ca_file: {ca_path}\nports:\n  https: {}\n  smtp: {}\nsmtp:\n  helo_name: bench.test\n  timeout: 10s\ndomains:\n",
        world.dns_addr,
        world.https_addr.port(),
        world.smtp_port
    );
    for i in 0..n {
        if i + hostile >= n {
            // Hostile servers are cut off by a short timeout.
            yaml.push_str(&format!("  - name: d{i}.test\n    timeout: 5s\n"));
        } else if i < smtp {
            yaml.push_str(&format!("  - name: d{i}.test\n    check_starttls: true\n"));
        } else {
            yaml.push_str(&format!("  - d{i}.test\n"));
        }
    }
    yaml
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(args) = parse_args() else {
        eprintln!("usage: fake_world [--bench N [--smtp K] [--hostile H] [--hostile-smtp S] [--hostile-dns D] [--mx-hosts M]] CONFIG_OUT.yml");
        std::process::exit(2);
    };
    let config_path = args.config_path.clone();
    if let Some(n) = args.bench {
        let started = std::time::Instant::now();
        let world = bench_world(
            n,
            args.smtp,
            args.hostile,
            args.hostile_smtp,
            args.hostile_dns,
            args.mx_hosts,
        )
        .start()
        .await;
        let ca_copy = format!("{config_path}.ca.pem");
        let written = std::fs::write(&ca_copy, &world.ca.pem)
            .and_then(|()| {
                std::fs::write(
                    format!("{config_path}.tmp"),
                    bench_config(&world, n, args.smtp, args.hostile, &ca_copy),
                )
            })
            .and_then(|()| std::fs::rename(format!("{config_path}.tmp"), &config_path));
        if let Err(error) = written {
            eprintln!("cannot write {config_path}: {error}");
            std::process::exit(1);
        }
        println!(
            "bench world: {n} domains ({} with STARTTLS) ready in {:.1}s; DNS {} HTTPS {}",
            args.smtp,
            started.elapsed().as_secs_f64(),
            world.dns_addr,
            world.https_addr
        );
        let _ = tokio::signal::ctrl_c().await;
        return;
    }
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "20240101",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    )
    .mta_sts_domain(
        "testing.test",
        "1",
        &policy_text("testing", &["*.testing.test"], 604_800),
    )
    .mta_sts_domain("none.test", "1", &policy_text("none", &[], 86_400))
    .mx("norecord.test", 10, "mx1.norecord.test")
    .mta_sts_domain(
        "tworecords.test",
        "1",
        &policy_text("enforce", &["mx1.tworecords.test"], 1_209_600),
    )
    .txt("_mta-sts.tworecords.test", "v=STSv1; id=2")
    .mta_sts_domain("expired.test", "1", "")
    .policy_host(
        "mta-sts.expired.test",
        PolicyHost::ok(&policy_text("enforce", &["mx1.expired.test"], 1_209_600))
            .with_cert(CertKind::Expired),
    )
    .mta_sts_domain("notfound.test", "1", "")
    .policy_host("mta-sts.notfound.test", PolicyHost::status(404, &[]))
    .mta_sts_domain(
        "badpolicy.test",
        "1",
        "version: STSv1\nmode: enforce\nmax_age: 86400\n",
    )
    .mta_sts_domain(
        "mxmiss.test",
        "1",
        &policy_text("enforce", &["mx1.mxmiss.test"], 1_209_600),
    )
    .mx("mxmiss.test", 20, "backup.elsewhere.test")
    .mta_sts_domain(
        "mxexpired.test",
        "1",
        &policy_text("enforce", &["*.mxexpired.test"], 1_209_600),
    )
    .mx("mxexpired.test", 20, "mx2.mxexpired.test")
    .smtp_host("mx2.mxexpired.test", SmtpBehavior::Tls(CertKind::Expired))
    .mta_sts_domain(
        "nostarttls.test",
        "1",
        &policy_text("testing", &["*.nostarttls.test"], 604_800),
    )
    .mx("nostarttls.test", 20, "mx2.nostarttls.test")
    .smtp_host("mx2.nostarttls.test", SmtpBehavior::NoStarttls)
    .mta_sts_domain("certsoon.test", "1", "")
    .policy_host(
        "mta-sts.certsoon.test",
        PolicyHost::ok(&policy_text("enforce", &["mx1.certsoon.test"], 1_209_600))
            .with_cert(CertKind::ExpiringSoon),
    )
    .mta_sts_domain(
        "nomxcover.test",
        "1",
        &policy_text("enforce", &["mx1.nomxcover.test"], 1_209_600),
    )
    .mx("nomxcover.test", 20, "mx.unlisted.test")
    .smtp_host("mx.unlisted.test", SmtpBehavior::Tls(CertKind::Valid))
    .mta_sts_domain(
        "dualstack.test",
        "1",
        &policy_text("enforce", &["*.dualstack.test"], 1_209_600),
    )
    .mx("dualstack.test", 20, "mx2.dualstack.test")
    .smtp_host_addresses(
        "mx2.dualstack.test",
        &[
            MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
            MxAddress::V6(SmtpBehavior::Tls(CertKind::Expired)),
        ],
    )
    .mta_sts_domain(
        "policyv6.test",
        "1",
        &policy_text("enforce", &["mx1.policyv6.test"], 1_209_600),
    )
    .policy_host_ipv6(
        "mta-sts.policyv6.test",
        PolicyHost::ok(&policy_text("testing", &["mx1.policyv6.test"], 86_400)),
    )
    .servfail("_mta-sts.servfail.test")
    .mx("servfail.test", 10, "mx1.servfail.test");
    let world = spec.start().await;
    let names: Vec<&str> = DOMAINS.iter().map(|(d, _)| *d).collect();
    let mut yaml = world
        .config_yaml(&names)
        .replace("timeout: 10s\n", "timeout: 10s\ninterval: 30s\n");
    // Keep the CA file beyond the world's temp file: copy it beside the config.
    let ca_copy = format!("{config_path}.ca.pem");
    if let Err(error) = std::fs::write(&ca_copy, &world.ca.pem) {
        eprintln!("cannot write {ca_copy}: {error}");
        std::process::exit(1);
    }
    yaml = yaml.replace(&world.ca_file.path().display().to_string(), &ca_copy);
    if let Err(error) = std::fs::write(&config_path, yaml) {
        eprintln!("cannot write {config_path}: {error}");
        std::process::exit(1);
    }
    println!(
        "fake world: DNS {} HTTPS {}",
        world.dns_addr, world.https_addr
    );
    for (domain, what) in DOMAINS {
        println!("  {domain:<18} {what}");
    }
    println!("exporter config written to {config_path}; Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
}
