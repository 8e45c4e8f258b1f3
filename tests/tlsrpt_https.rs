//! The TLSRPT HTTPS channel end to end (RFC 8460 §5.3.2), on loopback: the
//! exporter runs in-process on a fake world with `reports:` on, reports
//! are POSTed to its reports listener, and `/metrics` shows what they add
//! up to. A report is counted once however often it comes, a restart
//! rebuilds the same counts from the spool, and every hostile request is
//! answered with its status and counted as an ingest error.

mod support;

use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;
use support::harness::{get, parse_exposition, start_exporter_in, wait_ready, Running};
use support::https::policy_text;
use support::world::{closed_port, ConfigOverrides, WorldSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn world_spec() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    );
    spec
}

/// A report of `organization` about `domain` for yesterday (a fixed date
/// would fall behind the retention one day): 7 successful sessions and 3
/// failed ones, 2 on the domain's MX host and 1 on a host it does not have.
fn report(organization: &str, id: &str, domain: &str) -> Vec<u8> {
    let (start, end) = yesterday();
    format!(
        r#"{{"organization-name":"{organization}","report-id":"{id}",
          "date-range":{{"start-datetime":"{start}","end-datetime":"{end}"}},
          "contact-info":"tlsrpt@sender.example",
          "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"{domain}","mx-host":["mx1.{domain}"]}},
            "summary":{{"total-successful-session-count":7,"total-failure-session-count":3}},
            "failure-details":[
              {{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"MX1.{domain}.","failed-session-count":2}},
              {{"result-type":"starttls-not-supported","receiving-mx-hostname":"mx.elsewhere.test","failed-session-count":1}}]}}]}}"#
    )
    .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The exporter with `reports:` on at a free loopback port; `reports`
/// holds more keys of the section (indented by two spaces).
async fn start(storage: &std::path::Path, reports: &str) -> (Running, SocketAddr) {
    let port = closed_port().await;
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let extra = format!(
        "storage:\n  path: {}\nreports:\n  listen_address: {address}\n{reports}",
        storage.display()
    );
    let overrides = ConfigOverrides {
        extra: Box::leak(extra.into_boxed_str()),
        ..ConfigOverrides::default()
    };
    let running = start_exporter_in(world_spec(), &["good.test"], overrides).await;
    wait_ready(&running.base).await;
    (running, address)
}

/// POSTs `body` to `url` with `content_type` (none when `None`).
async fn post(url: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client.post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Sends `head` and `body` over a plain connection and reads the answer's
/// status line and headers.
async fn raw(address: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    read_answer(&mut stream, None).await
}

/// Reads from `stream` until the connection closes, or `until` was read
/// (without it: a final answer's header). Bounded: a server that never
/// answers fails the test instead of hanging it.
async fn read_answer(stream: &mut tokio::net::TcpStream, until: Option<&str>) -> String {
    let mut seen = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&seen).to_string();
            let done = match until {
                Some(marker) => text.contains(marker),
                None => text.contains("\r\n\r\n") && !text.starts_with("HTTP/1.1 100"),
            };
            if done {
                return;
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server answers");
    String::from_utf8_lossy(&seen).to_string()
}

/// The `mtasts_tlsrpt_*` series of the exporter's `/metrics`.
async fn tlsrpt_series(base: &str) -> BTreeMap<String, f64> {
    let (status, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    parse_exposition(&body)
        .into_iter()
        .filter(|(series, _)| series.starts_with("mtasts_tlsrpt_"))
        .collect()
}

fn value(series: &BTreeMap<String, f64>, name: &str) -> f64 {
    *series
        .get(name)
        .unwrap_or_else(|| panic!("missing {name} in {series:#?}"))
}

#[tokio::test]
async fn a_report_is_counted_once_and_kept_across_a_restart() {
    let storage = tempfile::tempdir().unwrap();
    let (running, address) = start(storage.path(), "").await;
    let url = format!("http://{address}/tlsrpt");

    let first = report("Google Inc.", "2026-11-30_good.test", "good.test");
    let (status, body) = post(&url, Some("application/tlsrpt+gzip"), gzip(&first)).await;
    assert_eq!((status, body.as_str()), (200, "stored\n"));
    // The sender's retry, as plain JSON this time: the same report.
    let (status, body) = post(&url, Some("application/tlsrpt+json"), first.clone()).await;
    assert_eq!((status, body.as_str()), (200, "stored before\n"));
    // An unusual Content-Type, and none: no reason to refuse a report.
    let second = report("Google Inc.", "2026-11-29_good.test", "good.test");
    let (status, _) = post(&url, Some("application/octet-stream"), second).await;
    assert_eq!(status, 200);
    let third = report("Microsoft Corporation", "ms-1", "good.test");
    let (status, _) = post(&url, None, gzip(&third)).await;
    assert_eq!(status, 200);

    let series = tlsrpt_series(&running.base).await;
    let google = r#"domain="good.test",organization="google-inc""#;
    let microsoft = r#"domain="good.test",organization="microsoft-corporation""#;
    assert_eq!(
        value(&series, &format!("mtasts_tlsrpt_reports_total{{{google}}}")),
        2.0
    );
    assert_eq!(
        value(
            &series,
            &format!("mtasts_tlsrpt_reports_total{{{microsoft}}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &series,
            &format!(
                "mtasts_tlsrpt_sessions_total{{{google},policy_type=\"sts\",result=\"success\"}}"
            )
        ),
        14.0
    );
    assert_eq!(
        value(
            &series,
            &format!("mtasts_tlsrpt_sessions_total{{{google},policy_type=\"sts\",result=\"certificate-expired\"}}")
        ),
        4.0
    );
    assert_eq!(
        value(
            &series,
            &format!("mtasts_tlsrpt_last_report_end_timestamp_seconds{{{google}}}")
        ),
        yesterday_end_timestamp() as f64
    );
    assert_eq!(value(&series, "mtasts_tlsrpt_report_duplicates_total"), 1.0);
    // Failed sessions on the domain's MX host, as its probe saw it, from
    // every sender; the host that is not the domain's has no series.
    assert_eq!(
        value(
            &series,
            r#"mtasts_tlsrpt_mx_failed_sessions_total{domain="good.test",mx="mx1.good.test",result="certificate-expired"}"#
        ),
        6.0
    );
    assert!(
        !series.keys().any(|s| s.contains("elsewhere")),
        "{series:#?}"
    );
    // Nothing refused: every cause at 0.
    assert_eq!(
        value(
            &series,
            r#"mtasts_tlsrpt_ingest_errors_total{cause="json",channel="https"}"#
        ),
        0.0
    );

    // A restart on the same storage reads the spool: the same counts.
    let (restarted, address) = start(storage.path(), "").await;
    let again = tlsrpt_series(&restarted.base).await;
    let counts = |series: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        series
            .iter()
            .filter(|(name, _)| {
                !name.starts_with("mtasts_tlsrpt_report_duplicates_total")
                    && !name.starts_with("mtasts_tlsrpt_ingest_errors_total")
            })
            .map(|(name, value)| (name.clone(), *value))
            .collect()
    };
    assert_eq!(counts(&again), counts(&series));
    // And the report sent once more after the restart is still a duplicate.
    let (status, body) = post(&format!("http://{address}/tlsrpt"), None, first).await;
    assert_eq!((status, body.as_str()), (200, "stored before\n"));
    let after = tlsrpt_series(&restarted.base).await;
    assert_eq!(counts(&after), counts(&series));
    assert_eq!(value(&after, "mtasts_tlsrpt_report_duplicates_total"), 1.0);

    // The pages show what senders reported, rebuilt from the spool too.
    let (status, landing) = get(&format!("{}/", restarted.base)).await;
    assert_eq!(status, 200);
    assert!(
        landing.contains("What senders reported (TLSRPT)"),
        "{landing}"
    );
    assert!(landing.contains("href=\"/domain/good.test\""), "{landing}");
    let (status, page) = get(&format!("{}/domain/good.test", restarted.base)).await;
    assert_eq!(status, 200);
    let section = page
        .split("What senders reported (TLSRPT)")
        .nth(1)
        .unwrap_or_else(|| panic!("no reports section: {page}"));
    assert!(section.contains("Google Inc."), "{section}");
    assert!(section.contains("Microsoft Corporation"), "{section}");
    assert!(section.contains("certificate-expired"), "{section}");
    assert!(section.ends_with("</main>\n</body></html>\n"), "{section}");
}

#[tokio::test]
async fn hostile_requests_are_refused_with_their_status_and_counted() {
    let storage = tempfile::tempdir().unwrap();
    let (running, address) = start(
        storage.path(),
        "  max_body_bytes: 65536\n  max_decompressed_bytes: 1048576\n  body_timeout: 5s\n  max_concurrent_requests: 1\n",
    )
    .await;
    let url = format!("http://{address}/tlsrpt");

    let (status, _) = post(&url, Some("application/tlsrpt+json"), b"{not json".to_vec()).await;
    assert_eq!(status, 400, "garbage");
    let elsewhere = report("Google Inc.", "x", "unknown.example");
    let (status, body) = post(&url, None, elsewhere).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no domain watched here"), "{body}");
    // 16 MiB of zeros in about 16 KB of gzip, over the 1 MiB limit.
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 65536);
    let (status, _) = post(&url, Some("application/tlsrpt+gzip"), bomb).await;
    assert_eq!(status, 413, "bomb");
    // Too large by its Content-Length: refused before the body is read.
    let answer = raw(
        address,
        "POST /tlsrpt HTTP/1.1\r\nHost: reports\r\nContent-Length: 1000000\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Too large while a chunked body is read.
    let mut chunked = Vec::new();
    for _ in 0..10 {
        chunked.extend_from_slice(format!("{:x}\r\n", 8000).as_bytes());
        chunked.extend_from_slice(&[b' '; 8000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(
        address,
        "POST /tlsrpt HTTP/1.1\r\nHost: reports\r\nTransfer-Encoding: chunked\r\n\r\n",
        &chunked,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Other methods and paths.
    let answer = raw(
        address,
        "GET /tlsrpt HTTP/1.1\r\nHost: reports\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("allow: post"),
        "{answer}"
    );
    let answer = raw(
        address,
        "POST /other HTTP/1.1\r\nHost: reports\r\nContent-Length: 0\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    // A slow body holds the one request place: a second request meanwhile
    // gets 503, and the slow one 408 once its time is up.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(
        b"POST /tlsrpt HTTP/1.1\r\nHost: reports\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    // The interim answer comes once the body is being read, so once the
    // request holds its place.
    let interim = read_answer(&mut slow, Some("100 Continue\r\n\r\n")).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    slow.write_all(b"{\"organization-name\"").await.unwrap();
    let answer = raw(
        address,
        "POST /tlsrpt HTTP/1.1\r\nHost: reports\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let answer = read_answer(&mut slow, None).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let series = tlsrpt_series(&running.base).await;
    let errors = |cause: &str| {
        value(
            &series,
            &format!("mtasts_tlsrpt_ingest_errors_total{{cause=\"{cause}\",channel=\"https\"}}"),
        )
    };
    assert_eq!(errors("json"), 1.0);
    assert_eq!(errors("unknown-domain"), 1.0);
    assert_eq!(errors("too-large"), 3.0);
    assert_eq!(errors("busy"), 1.0);
    assert_eq!(errors("timeout"), 1.0);
    assert_eq!(errors("gzip"), 0.0);
    assert!(
        !series
            .keys()
            .any(|s| s.starts_with("mtasts_tlsrpt_reports_total")),
        "nothing refused is counted: {series:#?}"
    );
    // The listener still takes a good report after all that.
    let (status, _) = post(&url, None, report("Google Inc.", "ok", "good.test")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_listener_speaks_tls_and_asks_for_its_user() {
    let storage = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let ca = support::ca::TestCa::new();
    let (cert, key) = ca.issue_pem(&["127.0.0.1"]);
    std::fs::write(files.path().join("reports.crt"), cert).unwrap();
    std::fs::write(files.path().join("reports.key"), key).unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = files.path().join("reports-web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  sender: \"{hash}\"\n",
            files.path().join("reports.crt").display(),
            files.path().join("reports.key").display()
        ),
    )
    .unwrap();
    let (running, address) = start(
        storage.path(),
        &format!(
            "  path: /reports/tlsrpt\n  web_config_file: {}\n",
            web.display()
        ),
    )
    .await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = format!("https://{address}/reports/tlsrpt");
    let body = gzip(&report("Google Inc.", "tls-1", "good.test"));
    let anonymous = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let stored = client
        .post(&url)
        .basic_auth("sender", Some("s3cret"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status().as_u16(), 200);
    // Plain HTTP to the TLS listener gets no answer.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(plain
        .post(format!("http://{address}/reports/tlsrpt"))
        .body(body)
        .send()
        .await
        .is_err());
    let series = tlsrpt_series(&running.base).await;
    assert_eq!(
        value(
            &series,
            r#"mtasts_tlsrpt_reports_total{domain="good.test",organization="google-inc"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn a_reload_applies_the_new_limits_and_domains() {
    let storage = tempfile::tempdir().unwrap();
    let (running, address) = start(storage.path(), "").await;
    let url = format!("http://{address}/tlsrpt");
    let other = report("Google Inc.", "o-1", "other.test");
    let (status, _) = post(&url, None, other.clone()).await;
    assert_eq!(status, 400, "other.test is not watched yet");
    // other.test added, and a body limit below the size of a report.
    let text = std::fs::read_to_string(&running.config_path).unwrap();
    let text = text.replace(
        "reports:\n",
        "reports:\n  max_body_bytes: 1024\n  path: /reports\n",
    ) + "  - other.test\n";
    std::fs::write(&running.config_path, text).unwrap();
    let (status, body) = support::harness::request(
        reqwest::Method::POST,
        &format!("{}/-/reload", running.base),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(&url, None, other.clone()).await;
    assert_eq!(status, 404, "the path moved");
    let url = format!("http://{address}/reports");
    let padded = [other.as_slice(), &[b' '; 1024]].concat();
    let (status, _) = post(&url, None, padded).await;
    assert_eq!(status, 413, "the new body limit");
    // The domain list is taken up off the reload's thread: wait for it.
    let mut status = 0;
    for _ in 0..100 {
        status = post(&url, None, other.clone()).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "other.test is watched now");
}

#[test]
fn bad_reports_settings_stop_the_start_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        "domains: [good.test]\nreports:\n  listen_address: \"127.0.0.1:0\"\n  max_body_bytes: 12\n  dkim: maybe\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("--config.file")
        .arg(&config)
        .arg("--web.listen-address")
        .arg("127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = config.display();
    for line in [
        format!("{file}:4:3: field reports.max_body_bytes: must be from 1024 to 1073741824"),
        format!("{file}:5:3: field reports.dkim: \"maybe\" is not verify or authentication-results"),
        format!("{file}:2:1: field reports: receiving reports needs storage.path: the received reports are kept there"),
    ] {
        assert!(stderr.lines().any(|l| l == line), "{line}\n{stderr}");
    }
}

/// Both channels running in the exporter: a report mailed to the Maildir
/// (vouched for by the local server's `Authentication-Results`) and then
/// POSTed by the same sender counts once (RFC 8460 §5.6).
#[tokio::test]
async fn the_same_report_by_mail_and_https_counts_once() {
    use base64::Engine as _;
    let storage = tempfile::tempdir().unwrap();
    let maildir = storage.path().join("Maildir");
    let (running, address) = start(
        storage.path(),
        &format!(
            "  maildir: {}\n  maildir_poll_interval: 1s\n  dkim: authentication-results\n  authserv_id: mx.good.test\n",
            maildir.display()
        ),
    )
    .await;
    let json = report("Sender Org", "both-channels-1", "good.test");
    let encoded = base64::engine::general_purpose::STANDARD.encode(gzip(&json));
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let message = format!(
        "Authentication-Results: mx.good.test; dkim=pass header.d=sender.example\n\
         From: TLS reports <tlsrpt@sender.example>\nTo: tlsrpt@good.test\n\
         Subject: Report Domain: good.test Submitter: sender.example Report-ID: <both-channels-1>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain\n\nA TLS report.\n\
         --b\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n{}\n--b--\n",
        lines.join("\n")
    );
    // The channel made the Maildir's folders at start; deliver as an MTA
    // does: write in tmp/, then move into new/.
    std::fs::write(maildir.join("tmp/1.mail"), message).unwrap();
    std::fs::rename(maildir.join("tmp/1.mail"), maildir.join("new/1.mail")).unwrap();
    let sender = r#"domain="good.test",organization="sender-org""#;
    let reports_of = |series: &BTreeMap<String, f64>| {
        value(series, &format!("mtasts_tlsrpt_reports_total{{{sender}}}"))
    };
    let mut series = BTreeMap::new();
    for _ in 0..300 {
        series = tlsrpt_series(&running.base).await;
        if series.contains_key(&format!("mtasts_tlsrpt_reports_total{{{sender}}}")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reports_of(&series), 1.0, "{series:#?}");
    let cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur, vec!["1.mail:2,S"]);

    let (status, body) = post(&format!("http://{address}/tlsrpt"), None, json).await;
    assert_eq!((status, body.as_str()), (200, "stored before\n"));
    let after = tlsrpt_series(&running.base).await;
    assert_eq!(reports_of(&after), 1.0);
    assert_eq!(value(&after, "mtasts_tlsrpt_report_duplicates_total"), 1.0);
    assert_eq!(
        value(
            &after,
            &format!(
                "mtasts_tlsrpt_sessions_total{{{sender},policy_type=\"sts\",result=\"success\"}}"
            )
        ),
        7.0
    );
    // Both channels' causes are there at 0 before anything is refused.
    assert_eq!(
        value(
            &after,
            r#"mtasts_tlsrpt_ingest_errors_total{cause="dkim",channel="maildir"}"#
        ),
        0.0
    );
}

/// Each refused report is answered with its cause in words, the same
/// cause it is counted under: a sender (or whoever runs it) reads why.
#[tokio::test]
async fn each_refusal_is_answered_with_its_counted_cause() {
    let storage = tempfile::tempdir().unwrap();
    let (running, address) = start(storage.path(), "  max_decompressed_bytes: 1048576\n").await;
    let url = format!("http://{address}/tlsrpt");
    let good = report("Google Inc.", "cause", "good.test");
    let future = String::from_utf8_lossy(&good).replace(&yesterday().1, "2099-11-30T23:59:59Z");
    let mut cut_gzip = gzip(&good);
    cut_gzip.truncate(cut_gzip.len() / 2);
    let cases: [(&str, Vec<u8>, u16, &str); 6] = [
        ("gzip", cut_gzip, 400, "the body is not valid gzip"),
        (
            "gzip",
            vec![0x1f, 0x8b, 0xff, 0x00, 0x01],
            400,
            "the body is not valid gzip",
        ),
        (
            "json",
            b"{\"organization-name\":".to_vec(),
            400,
            "not a TLSRPT report (RFC 8460 §4.4): not a JSON report: ",
        ),
        (
            "unknown-domain",
            report("Google Inc.", "x", "unknown.example"),
            400,
            "the report is about no domain watched here",
        ),
        (
            "out-of-range",
            future.into_bytes(),
            400,
            "the report is out of range: its period ends in the future",
        ),
        (
            "too-large",
            gzip(&vec![b' '; 4 << 20]),
            413,
            "report too large: over 1048576 bytes",
        ),
    ];
    for (cause, body, status, text) in cases {
        let before = tlsrpt_series(&running.base).await;
        let (answered, answer) = post(&url, None, body).await;
        assert_eq!(answered, status, "{cause}: {answer}");
        assert!(answer.starts_with(text), "{cause}: {answer}");
        assert!(
            answer.ends_with('\n') && answer.len() < 400,
            "{cause}: {answer}"
        );
        let after = tlsrpt_series(&running.base).await;
        let counted = |series: &BTreeMap<String, f64>| {
            value(
                series,
                &format!(
                    "mtasts_tlsrpt_ingest_errors_total{{cause=\"{cause}\",channel=\"https\"}}"
                ),
            )
        };
        assert_eq!(counted(&after), counted(&before) + 1.0, "{cause}");
    }
}

/// Yesterday's day in RFC 3339 (start, end), so the report falls in the
/// pages' last 7 days whenever the test runs.
fn yesterday() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let day = (now - time::Duration::days(1)).date();
    (format!("{day}T00:00:00Z"), format!("{day}T23:59:59Z"))
}

/// The end of [`yesterday`], in seconds since the epoch.
fn yesterday_end_timestamp() -> i64 {
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date();
    day.with_hms(23, 59, 59)
        .expect("a time of day")
        .assume_utc()
        .unix_timestamp()
}

/// A domain whose probe passes while senders report failures says so at
/// the top of its page, as the probe's blind spot, and the status page
/// marks its row; every value from the report escaped.
#[tokio::test]
async fn a_passing_domain_with_reported_failures_says_so_at_the_top() {
    let storage = tempfile::tempdir().unwrap();
    let (running, address) = start(storage.path(), "").await;
    let body =
        String::from_utf8_lossy(&report("Evil <b>Org</b>", "blind", "good.test")).to_string();
    let (status, answer) = post(&format!("http://{address}/tlsrpt"), None, body.into_bytes()).await;
    assert_eq!(status, 200, "{answer}");

    let (status, page) = get(&format!("{}/domain/good.test", running.base)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<span class=\"badge ok\" id=\"status\">ok</span>"),
        "the probe passes: {page}"
    );
    let notice = page.find("id=\"tlsrpt-notice\"");
    let failures = page.find("id=\"failures\"");
    assert!(notice.is_some() && notice < failures, "at the top: {page}");
    assert!(
        page.contains("<strong>Senders reported 3 failed sessions in the last 7 days</strong>"),
        "{page}"
    );
    assert!(
        page.contains(
            "senders report TLS failures for good.test that the probe does not see</strong>, the probe's blind spot"
        ),
        "{page}"
    );
    assert!(
        page.contains("from Evil &lt;b&gt;Org&lt;/b&gt; (3)"),
        "{page}"
    );
    assert!(!page.contains("<b>Org"), "{page}");
    assert!(
        page.contains("<a href=\"#tlsrpt-reports\">see below</a>"),
        "{page}"
    );
    assert!(page.contains("<h2 id=\"tlsrpt-reports\">"), "{page}");

    let (status, landing) = get(&format!("{}/", running.base)).await;
    assert_eq!(status, 200);
    let row = landing
        .split("<tr data-domain=\"good.test\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row: {landing}"));
    assert!(
        row.contains(
            "<a href=\"/domain/good.test#tlsrpt-reports\">senders reported 3 failed sessions (7 days), not seen by the probe</a>"
        ),
        "{row}"
    );
}

/// The spool is read at start-up off the async threads: the exporter
/// answers `/-/healthy` and `/metrics` (without the `mtasts_tlsrpt_*`
/// families, never part of the counts) while the read is held back, says
/// on `/-/ready` and the pages that it is reading, takes a report
/// meanwhile, and once the read is done counts every stored report once.
/// Ordered by a hold the test releases, not by time.
#[tokio::test]
async fn the_exporter_serves_while_the_spool_is_read_and_counts_it_all_after() {
    use mtasts_exporter::rfc::rfc8460::report_body::{decode_report, DEFAULT_DECOMPRESSED_LIMIT};
    use mtasts_exporter::tlsrpt::component::RebuildHold;
    use mtasts_exporter::tlsrpt::spool::Spool;
    use support::harness::start_exporter_holding;

    const STORED: usize = 300;
    let storage = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(storage.path(), DEFAULT_DECOMPRESSED_LIMIT).unwrap();
        for i in 0..STORED {
            let raw = gzip(&report("Google Inc.", &format!("r{i}"), "good.test"));
            let decoded = decode_report(&raw, DEFAULT_DECOMPRESSED_LIMIT).unwrap();
            spool.store(&decoded, &raw).unwrap();
        }
    }
    let port = closed_port().await;
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let extra = format!(
        "storage:\n  path: {}\nreports:\n  listen_address: {address}\n",
        storage.path().display()
    );
    let overrides = ConfigOverrides {
        extra: Box::leak(extra.into_boxed_str()),
        ..ConfigOverrides::default()
    };
    let (hold, release) = RebuildHold::new();
    let running = start_exporter_holding(
        world_spec(),
        &["good.test"],
        overrides,
        mtasts_exporter::server::ClientTimeouts::default(),
        Some(hold),
    )
    .await;
    let base = running.base.clone();

    let (status, body) = get(&format!("{base}/-/healthy")).await;
    assert_eq!((status, body.as_str()), (200, "Healthy\n"));
    assert!(
        tlsrpt_series(&base).await.is_empty(),
        "no mtasts_tlsrpt_* family before the spool is read"
    );
    // Not ready while the spool is read, also after the first probe round.
    let mut answer = String::new();
    for _ in 0..400 {
        let (status, body) = get(&format!("{base}/-/ready")).await;
        assert_eq!(status, 503, "{body}");
        answer = body;
        if !answer.contains("not probed yet") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        answer,
        "Not ready: the stored TLSRPT reports are still being read\n"
    );
    let (_, landing) = get(&format!("{base}/")).await;
    assert!(landing.contains("id=\"tlsrpt-reading\""), "{landing}");
    // A report taken in meanwhile: stored at once, counted once.
    let url = format!("http://{address}/tlsrpt");
    let late = report("Microsoft Corporation", "late", "good.test");
    let (status, body) = post(&url, None, late).await;
    assert_eq!((status, body.as_str()), (200, "stored\n"));

    let _ = release.send(());
    wait_ready(&base).await;
    let series = tlsrpt_series(&base).await;
    let google = r#"domain="good.test",organization="google-inc""#;
    let microsoft = r#"domain="good.test",organization="microsoft-corporation""#;
    assert_eq!(
        value(&series, &format!("mtasts_tlsrpt_reports_total{{{google}}}")),
        STORED as f64
    );
    assert_eq!(
        value(
            &series,
            &format!("mtasts_tlsrpt_reports_total{{{microsoft}}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &series,
            &format!(
                "mtasts_tlsrpt_sessions_total{{{google},policy_type=\"sts\",result=\"certificate-expired\"}}"
            )
        ),
        2.0 * STORED as f64
    );
    let (_, landing) = get(&format!("{base}/")).await;
    assert!(!landing.contains("id=\"tlsrpt-reading\""), "{landing}");
    let (status, body) = get(&format!("{base}/-/ready")).await;
    assert_eq!((status, body.as_str()), (200, "Ready\n"));
}
