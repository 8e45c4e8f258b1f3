//! The mail channel of TLSRPT reports (RFC 8460 §5.3) end to end: messages
//! built and DKIM-signed here (Ed25519 keys made for the test, served by
//! the fake DNS on 127.0.0.1 under `<selector>._domainkey`), dropped into a
//! Maildir's `new/`, read by the Maildir reader into a spool, and found in
//! `cur/` or `rejected/` as they should be, counted once or as ingest
//! errors by cause.

mod support;

use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mtasts_exporter::config::ResolverConfig;
use mtasts_exporter::tlsrpt::ingest::{Channel, Ingestor};
use mtasts_exporter::tlsrpt::mail::{Mail, DEFAULT_MAX_MESSAGE_BYTES};
use mtasts_exporter::tlsrpt::maildir::{
    run, DkimMode, MaildirReader, MaildirSettings, Outcome, PassSummary,
};
use proptest::prelude::*;
use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use support::dns::{name, start_dns, DnsFault};

const NOW: i64 = 1_796_169_600; // 2026-12-01T00:00:00Z
const SELECTOR: &str = "sel";

/// A signing key and its DNS record.
struct Signer {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl Signer {
    fn new() -> Signer {
        let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate");
        let public = Ed25519Key::from_pkcs8_der(&pkcs8)
            .expect("key")
            .public_key();
        Signer { pkcs8, public }
    }

    fn record(&self, domain: &str) -> Record {
        let text = format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(&self.public)
        );
        Record::from_rdata(
            name(&format!("{SELECTOR}._domainkey.{domain}")),
            60,
            RData::TXT(TXT::new(vec![text])),
        )
    }

    /// `message` with a DKIM-Signature of `domain` on top.
    fn sign(&self, domain: &str, message: &str) -> String {
        let key = Ed25519Key::from_pkcs8_der(&self.pkcs8).expect("key");
        let signature = DkimSigner::from_key(key)
            .domain(domain)
            .selector(SELECTOR)
            .headers([
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
                "Content-Type",
            ])
            .sign(message.as_bytes())
            .expect("sign");
        // Maildir files end lines with LF, as local delivery writes them.
        format!("{}{message}", signature.to_header().replace("\r\n", "\n"))
    }
}

/// A report for yesterday (a fixed date would fall behind the retention
/// one day).
fn report_json(organization: &str, id: &str) -> String {
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date();
    format!(
        r#"{{"organization-name":"{organization}","report-id":"{id}",
  "date-range":{{"start-datetime":"{day}T00:00:00Z","end-datetime":"{day}T23:59:59Z"}},
  "contact-info":"tlsrpt@sender.test",
  "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"example.test","mx-host":["mx1.example.test"]}},
    "summary":{{"total-successful-session-count":40,"total-failure-session-count":2}},
    "failure-details":[{{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.example.test","failed-session-count":2}}]}}]}}"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn base64_lines(bytes: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes()
        .chunks(76)
        .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
        .collect()
}

fn headers(from: &str, id: &str) -> String {
    format!(
        "From: TLS reports <{from}>\nTo: tlsrpt@example.test\nSubject: Report Domain: example.test Submitter: sender.test Report-ID: <{id}>\nDate: Tue, 01 Dec 2026 00:10:00 +0000\nMessage-ID: <{id}@sender.test>\nTLS-Report-Domain: example.test\nTLS-Report-Submitter: sender.test\nMIME-Version: 1.0\n"
    )
}

/// A `multipart/report; report-type=tlsrpt` (RFC 8460 §5.3) with the
/// report gzipped and base64-encoded.
fn gzip_report_mail(from: &str, id: &str) -> String {
    let json = report_json("Sender Org", id);
    format!(
        "{}Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"=_b\"\n\n--=_b\nContent-Type: text/plain; charset=us-ascii\n\nThis is an aggregate TLS report from sender.test.\n\n--=_b\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"sender.test!example.test!1796083200!1796169599!{id}.json.gz\"\n\n{}\n--=_b--\n",
        headers(from, id),
        base64_lines(&gzip(json.as_bytes()))
    )
}

/// The same with the report as plain JSON (`application/tlsrpt+json`).
fn json_report_mail(from: &str, id: &str) -> String {
    format!(
        "{}Content-Type: multipart/report; report-type=tlsrpt; boundary=b2\n\n--b2\nContent-Type: text/plain\n\nReport attached.\n--b2\nContent-Type: application/tlsrpt+json\n\n{}\n--b2--\n",
        headers(from, id),
        report_json("Sender Org", id)
    )
}

/// Not as the RFC says: the message's body is the report.
fn plain_report_mail(from: &str, id: &str) -> String {
    format!(
        "{}Content-Type: application/json\n\n{}\n",
        headers(from, id),
        report_json("Sender Org", id)
    )
}

struct Setup {
    _dns: tokio::task::JoinHandle<()>,
    _dirs: tempfile::TempDir,
    dns: SocketAddr,
    maildir: PathBuf,
    ingestor: Arc<Ingestor>,
    sender: Signer,
}

impl Setup {
    /// The fake DNS with `sender.test`'s and `other.test`'s keys (and
    /// `silent.test` never answering), an empty Maildir and spool.
    async fn new() -> Setup {
        let sender = Signer::new();
        let records = vec![sender.record("sender.test"), sender.record("other.test")];
        let (dns, task) =
            start_dns(&records, &[("silent.test".to_string(), DnsFault::NoAnswer)]).await;
        let dirs = tempfile::tempdir().expect("tempdir");
        let domains: HashSet<String> = ["example.test".to_string()].into_iter().collect();
        let (ingestor, _) =
            Ingestor::open(&dirs.path().join("spool"), 1 << 20, 400, domains, NOW).expect("spool");
        Setup {
            _dns: task,
            dns,
            maildir: dirs.path().join("Maildir"),
            _dirs: dirs,
            ingestor: Arc::new(ingestor),
            sender,
        }
    }

    fn resolver(&self) -> ResolverConfig {
        ResolverConfig {
            nameservers: vec![self.dns],
            timeout: Duration::from_millis(500),
            ..mtasts_exporter::config::Config::default().resolver
        }
    }

    fn settings(&self) -> MaildirSettings {
        MaildirSettings::new(&self.maildir)
    }

    fn reader(&self, settings: MaildirSettings) -> MaildirReader {
        MaildirReader::new(settings, self.ingestor.clone(), &self.resolver()).expect("reader")
    }

    fn deliver(&self, file: &str, message: &str) {
        let new = self.maildir.join("new");
        std::fs::create_dir_all(&new).expect("new/");
        std::fs::write(new.join(file), message).expect("deliver");
    }

    fn files(&self, folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.maildir.join(folder))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn errors(&self) -> Vec<(&'static str, u64)> {
        self.ingestor
            .errors()
            .into_iter()
            .filter(|((channel, _), _)| *channel == Channel::Maildir)
            .map(|((_, cause), count)| (cause, count))
            .collect()
    }

    /// Sessions counted for example.test from `Sender Org`.
    fn sessions(&self) -> u64 {
        self.ingestor.with_tally(|tally| {
            tally
                .domains
                .get("example.test")
                .and_then(|senders| senders.get("Sender Org"))
                .map(|counts| counts.sessions.values().sum())
                .unwrap_or(0)
        })
    }
}

fn summary(stored: u64, duplicates: u64, rejected: u64, deferred: u64) -> PassSummary {
    PassSummary {
        stored,
        duplicates,
        rejected,
        deferred,
        unmoved: 0,
    }
}

#[tokio::test]
async fn signed_reports_are_stored_counted_and_moved_to_cur() {
    let setup = Setup::new().await;
    let s = &setup.sender;
    setup.deliver(
        "1764547800.M1P1.mx",
        &s.sign(
            "sender.test",
            &gzip_report_mail("tlsrpt@sender.test", "r-gzip"),
        ),
    );
    setup.deliver(
        "1764547800.M2P1.mx",
        &s.sign(
            "sender.test",
            &json_report_mail("tlsrpt@sender.test", "r-json"),
        ),
    );
    // Signed by the parent domain of the From: address's.
    setup.deliver(
        "1764547800.M3P1.mx",
        &s.sign(
            "sender.test",
            &plain_report_mail("noreply@reports.sender.test", "r-plain"),
        ),
    );
    let reader = setup.reader(setup.settings());
    assert_eq!(reader.pass().await.expect("pass"), summary(3, 0, 0, 0));
    assert_eq!(
        setup.files("cur"),
        vec![
            "1764547800.M1P1.mx:2,S",
            "1764547800.M2P1.mx:2,S",
            "1764547800.M3P1.mx:2,S"
        ]
    );
    assert!(setup.files("new").is_empty());
    assert!(setup.files("rejected").is_empty());
    assert_eq!(setup.errors(), vec![]);
    // 42 sessions per report.
    assert_eq!(setup.sessions(), 3 * 42);
    let stored = std::fs::read_dir(setup.ingestor.spool().reports_dir())
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(stored, 3);

    // Nothing left: a second pass does nothing.
    assert_eq!(reader.pass().await.expect("pass"), PassSummary::default());
}

#[tokio::test]
async fn the_same_report_mailed_twice_counts_once() {
    let setup = Setup::new().await;
    let message = setup.sender.sign(
        "sender.test",
        &gzip_report_mail("tlsrpt@sender.test", "r-twice"),
    );
    setup.deliver("1764547800.M1P1.mx", &message);
    setup.deliver("1764547900.M1P1.mx", &message);
    let reader = setup.reader(setup.settings());
    assert_eq!(reader.pass().await.expect("pass"), summary(1, 1, 0, 0));
    assert_eq!(setup.ingestor.duplicates(), 1);
    assert_eq!(setup.sessions(), 42);
    assert_eq!(setup.files("cur").len(), 2);

    // A message named like one already in cur/ keeps both.
    setup.deliver("1764547800.M1P1.mx", &message);
    assert_eq!(reader.pass().await.expect("pass"), summary(0, 1, 0, 0));
    assert_eq!(
        setup.files("cur"),
        vec![
            "1764547800.M1P1.mx:2,S",
            "1764547800.M1P1.mx:2,S.1",
            "1764547900.M1P1.mx:2,S"
        ]
    );
    assert_eq!(setup.sessions(), 42);
}

#[tokio::test]
async fn bad_or_missing_signatures_are_rejected_as_dkim() {
    let setup = Setup::new().await;
    let s = &setup.sender;
    // No signature.
    setup.deliver("a-unsigned", &gzip_report_mail("tlsrpt@sender.test", "r1"));
    // The body changed after signing.
    let signed = s.sign("sender.test", &json_report_mail("tlsrpt@sender.test", "r2"));
    setup.deliver(
        "b-changed",
        &signed.replace(
            "\"total-successful-session-count\":40",
            "\"total-successful-session-count\":4000",
        ),
    );
    // A valid signature, of a domain that is not the From: address's.
    setup.deliver(
        "c-other-domain",
        &s.sign("other.test", &gzip_report_mail("tlsrpt@sender.test", "r3")),
    );
    // Signed with a key the domain does not publish.
    let stranger = Signer::new();
    setup.deliver(
        "d-wrong-key",
        &stranger.sign("sender.test", &gzip_report_mail("tlsrpt@sender.test", "r4")),
    );
    // A From: header changed after signing.
    let forged_from = s
        .sign("sender.test", &gzip_report_mail("tlsrpt@sender.test", "r5"))
        .replace(
            "From: TLS reports <tlsrpt@sender.test>",
            "From: TLS reports <tlsrpt@sender.test.evil.test>",
        );
    setup.deliver("e-from-changed", &forged_from);
    // A second, unsigned From: above the signed one.
    setup.deliver(
        "f-two-froms",
        &format!(
            "From: reports@other.test\n{}",
            s.sign(
                "sender.test",
                &gzip_report_mail("tlsrpt@sender.test", "r5b")
            )
        ),
    );

    let reader = setup.reader(setup.settings());
    let expected = [
        ("a-unsigned", "no DKIM signature"),
        ("b-changed", "body hash"),
        (
            "c-other-domain",
            "signed by other.test, not by the From: domain sender.test",
        ),
        (
            "d-wrong-key",
            "the DKIM signature of sender.test does not verify",
        ),
        (
            "e-from-changed",
            "not by the From: domain sender.test.evil.test",
        ),
        ("f-two-froms", "no usable From: address"),
    ];
    for (file, why) in expected {
        let (outcome, moved) = reader.take(file.into()).await;
        assert!(moved, "{file}");
        assert!(
            matches!(&outcome, Outcome::Rejected { cause: "dkim", reason } if reason.contains(why)),
            "{file}: {outcome:?}"
        );
    }
    assert_eq!(
        setup.files("rejected"),
        vec![
            "a-unsigned",
            "b-changed",
            "c-other-domain",
            "d-wrong-key",
            "e-from-changed",
            "f-two-froms"
        ]
    );
    assert!(setup.files("cur").is_empty() && setup.files("new").is_empty());
    assert_eq!(setup.errors(), vec![("dkim", 6)]);
    // Names that lead out of new/ are no messages of it.
    for name in ["../rejected/a-unsigned", "..", "/etc/hostname"] {
        assert_eq!(reader.take(name.into()).await, (Outcome::Vanished, true));
    }
    assert_eq!(setup.files("rejected").len(), 6);
    assert_eq!(setup.sessions(), 0);
}

#[tokio::test]
async fn messages_without_a_report_are_rejected_as_mime_and_big_ones_as_too_large() {
    let setup = Setup::new().await;
    let s = &setup.sender;
    setup.deliver("a-not-mail", "just some bytes, no header\n\nat all");
    let no_report = format!(
        "{}Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nHello.\n--x--\n",
        headers("tlsrpt@sender.test", "r6")
    );
    setup.deliver("b-no-report", &s.sign("sender.test", &no_report));
    setup.deliver("c-empty", "");
    let big = s.sign("sender.test", &json_report_mail("tlsrpt@sender.test", "r7"));
    setup.deliver("d-big", &format!("{big}{}", "x".repeat(5000)));
    // A report that is not JSON: refused by the ingestor, counted there.
    let garbage = format!(
        "{}Content-Type: multipart/report; report-type=tlsrpt; boundary=g\n\n--g\nContent-Type: application/tlsrpt+json\n\n{{not json\n--g--\n",
        headers("tlsrpt@sender.test", "r8")
    );
    setup.deliver("e-garbage", &s.sign("sender.test", &garbage));

    // Not a file: refused without being read (reading it would never end).
    std::os::unix::fs::symlink("/dev/zero", setup.maildir.join("new/f-endless")).expect("symlink");
    // Dot files are not messages (Maildir).
    setup.deliver(".f-hidden", "not a message");

    let mut settings = setup.settings();
    settings.max_message_bytes = 4000;
    let reader = setup.reader(settings);
    assert_eq!(reader.pass().await.expect("pass"), summary(0, 0, 6, 0));
    assert_eq!(
        setup.files("rejected"),
        vec![
            "a-not-mail",
            "b-no-report",
            "c-empty",
            "d-big",
            "e-garbage",
            "f-endless"
        ]
    );
    assert_eq!(setup.files("new"), vec![".f-hidden"]);
    assert_eq!(
        setup.errors(),
        vec![("json", 1), ("mime", 4), ("too-large", 1)]
    );
}

#[tokio::test]
async fn authentication_results_of_the_local_server_are_trusted_and_no_others() {
    let setup = Setup::new().await;
    let unsigned = gzip_report_mail("tlsrpt@sender.test", "r9");
    setup.deliver(
        "a-vouched",
        &format!("Authentication-Results: mx.example.test;\n\tdkim=pass (good signature) header.d=sender.test header.s=sel\nReceived: from mail.sender.test by mx.example.test\n{unsigned}"),
    );
    setup.deliver(
        "b-other-service",
        &format!(
            "Authentication-Results: mx.elsewhere.test; dkim=pass header.d=sender.test\n{}",
            gzip_report_mail("tlsrpt@sender.test", "r10")
        ),
    );
    // The sender's own header, below the local server's.
    setup.deliver(
        "c-forged-below",
        &format!("Authentication-Results: mx.example.test; dkim=none\nReceived: from mail.sender.test by mx.example.test\nAuthentication-Results: mx.example.test; dkim=pass header.d=sender.test\n{}", gzip_report_mail("tlsrpt@sender.test", "r11")),
    );
    setup.deliver(
        "d-wrong-domain",
        &format!(
            "Authentication-Results: mx.example.test; dkim=pass header.d=other.test\n{}",
            gzip_report_mail("tlsrpt@sender.test", "r12")
        ),
    );
    let mut settings = setup.settings();
    settings.dkim = DkimMode::AuthenticationResults {
        authserv_id: "mx.example.test".to_string(),
    };
    let reader = setup.reader(settings);
    assert_eq!(reader.pass().await.expect("pass"), summary(1, 0, 3, 0));
    assert_eq!(setup.files("cur"), vec!["a-vouched:2,S"]);
    assert_eq!(
        setup.files("rejected"),
        vec!["b-other-service", "c-forged-below", "d-wrong-domain"]
    );
    assert_eq!(setup.errors(), vec![("dkim", 3)]);
    assert_eq!(setup.sessions(), 42);
}

#[tokio::test]
async fn a_key_lookup_that_gets_no_answer_leaves_the_message_until_it_is_too_old() {
    let setup = Setup::new().await;
    let message = setup.sender.sign(
        "silent.test",
        &gzip_report_mail("tlsrpt@silent.test", "r13"),
    );
    setup.deliver("a-silent", &message);
    let reader = setup.reader(setup.settings());
    assert_eq!(reader.pass().await.expect("pass"), summary(0, 0, 0, 1));
    assert_eq!(setup.files("new"), vec!["a-silent"]);
    assert_eq!(setup.errors(), vec![], "not counted while it may pass");

    let mut settings = setup.settings();
    settings.give_up_after = Duration::ZERO;
    let reader = setup.reader(settings);
    assert_eq!(reader.pass().await.expect("pass"), summary(0, 0, 1, 0));
    assert_eq!(setup.files("rejected"), vec!["a-silent"]);
    assert_eq!(setup.errors(), vec![("dkim", 1)]);
}

#[tokio::test]
async fn the_running_channel_reads_at_start_and_on_its_interval_and_stops() {
    let setup = Setup::new().await;
    let s = &setup.sender;
    setup.deliver(
        "1",
        &s.sign(
            "sender.test",
            &gzip_report_mail("tlsrpt@sender.test", "r14"),
        ),
    );
    let mut settings = setup.settings();
    settings.poll_interval = Duration::from_millis(200);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ingestor = setup.ingestor.clone();
    let resolver = setup.resolver();
    let task = tokio::spawn(async move {
        run(settings, ingestor, &resolver, async {
            let _ = stopped.await;
        })
        .await
    });
    wait_for(|| setup.files("cur") == vec!["1:2,S"]).await;
    setup.deliver(
        "2",
        &s.sign(
            "sender.test",
            &gzip_report_mail("tlsrpt@sender.test", "r15"),
        ),
    );
    wait_for(|| setup.files("cur") == vec!["1:2,S", "2:2,S"]).await;
    assert_eq!(setup.sessions(), 84);
    let _ = stop.send(());
    assert!(matches!(task.await, Ok(Ok(()))));
}

/// Waits (at most a minute) until `done`.
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not done within a minute");
}

fn exercise(raw: &[u8]) {
    // What the DKIM verifier parses before it looks up any key.
    let _ = mail_auth::AuthenticatedMessage::parse(raw);
    if let Ok(mail) = Mail::parse(raw, DEFAULT_MAX_MESSAGE_BYTES) {
        let _ = mail.report();
        let _ = mail.from_domain();
        let _ = mail.trusted_authentication_results("mx.example.test");
        let _ = mail.dkim_pass_vouched("mx.example.test");
    }
}

fn sample_message() -> Vec<u8> {
    let signer = Signer::new();
    format!(
        "Authentication-Results: mx.example.test; dkim=pass header.d=sender.test\n{}",
        signer.sign(
            "sender.test",
            &gzip_report_mail("tlsrpt@sender.test", "fuzz")
        )
    )
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never make the mail reader panic.
    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        exercise(&raw);
    }

    /// Nor does a real report mail with bytes changed, cut or inserted.
    #[test]
    fn damaged_report_mails_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..20),
    ) {
        let mut raw = SAMPLE.with(|sample| sample.clone());
        for (at, byte, kind) in edits {
            if raw.is_empty() {
                break;
            }
            let at = at % raw.len();
            match kind {
                0 => raw[at] = byte,
                1 => raw.insert(at, byte),
                _ => raw.truncate(at),
            }
        }
        exercise(&raw);
    }

    /// Header-like text made of the characters that matter to MIME and
    /// Authentication-Results never makes it panic either.
    #[test]
    fn header_soup_never_panics(text in "([A-Za-z:;=\\-\\.\"()\\\\ @/\n\t]|Content-Type: |multipart/report; boundary=|--|Authentication-Results: |dkim=pass |header.d=){0,80}") {
        exercise(text.as_bytes());
    }
}

thread_local! {
    static SAMPLE: Vec<u8> = sample_message();
}

#[test]
fn the_sample_for_the_property_tests_is_a_good_report_mail() {
    let raw = sample_message();
    let mail = Mail::parse(&raw, DEFAULT_MAX_MESSAGE_BYTES).expect("parses");
    assert!(mail.report().is_ok());
    assert_eq!(
        mail.dkim_pass_vouched("mx.example.test"),
        Ok("sender.test".to_string())
    );
}
