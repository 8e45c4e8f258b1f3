//! A benchmark world of real servers from Debian's packages, on loopback:
//! knot for DNS, nginx for HTTPS (a certificate of its own per policy host
//! `mta-sts.dI.test`, picked by SNI in one server block; `--nginx-blocks`
//! for a server block per host, which nginx cannot load at 100,000),
//! postfix for SMTP with STARTTLS. The
//! second world of `examples/bench.rs` (`--world real`), beside the
//! project's own fake world (`examples/fake_world.rs`).
//!
//! ```sh
//! apt-get install -y --no-install-recommends knot nginx postfix
//! cargo build --release --examples
//! target/release/examples/real_world --bench 10000 [--starttls] [--nginx-blocks] [--dnssec] OUT.yml
//! ```
//!
//! N domains `dI.test`, each with an STS record, a policy host with a
//! certificate of its own from a test CA, an MX record and a TLSRPT record,
//! all in one zone `test.` (the exporter asks a nameserver for names and
//! never follows delegations, so one zone answers as sub-zones would).
//! Domain I's MX host is `mx{I % 100}.bench.test` at 127.0.1.{I % 100 + 1},
//! all served by one postfix on one port (a service per address). The
//! config written skips STARTTLS unless `--starttls` is given (the bench
//! turns it on per run, on the same world).
//!
//! `--dnssec` (DANE, RFC 7672, issue 15): knot signs `test.` and a root
//! zone `.` that delegates `test.` with a DS record (automatic signing,
//! ECDSA P-256, a KSK and a ZSK per zone, NSEC; the keys of `test.` made
//! with `keymgr` before knot starts so the root carries their DS, the
//! root's made by knot; all in the world's directory). The zone has TLSA
//! records `_25._tcp.mxJ.bench.test` (`3 1 1`: the SHA-256 of postfix's key,
//! and of a next key kept beside it, so the set is ready for a key
//! rollover), and the config written trusts the root's KSK
//! (`resolver.trust_anchor_file`, the DNSKEY line `keymgr` prints) with
//! `dane: on` for every domain. So each validation walks the chain a
//! validator walks on the Internet for a name under a TLD: DNSKEY of `.`,
//! DS and DNSKEY of `test.` (an anchor at `test.` naming only its KSK makes
//! hickory ask for the DS of `test.`, which a server without the parent
//! zone cannot prove: every answer was bogus). knot counts the queries it
//! answers (`mod-stats`, read with `knotc stats`); the path of its config
//! is written beside the exporter's (`OUT.knot`) for the bench.
//!
//! Everything lives in a temporary directory with its own configs, pid
//! files and ports; nothing in /etc is touched and no system service is
//! started. The daemons run in the foreground as children of this process
//! and are stopped on SIGINT or SIGTERM (and get SIGTERM if this process
//! dies), and the directory is removed. Timings of generation and start-up
//! are printed.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

/// MX host names (and addresses) the domains share when STARTTLS is on.
const MX_HOSTS: usize = 100;

struct Args {
    domains: usize,
    starttls: bool,
    nginx_blocks: bool,
    dnssec: bool,
    config_path: PathBuf,
}

fn parse_args() -> Option<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        domains: 0,
        starttls: false,
        nginx_blocks: false,
        dnssec: false,
        config_path: PathBuf::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => parsed.domains = args.next()?.parse().ok()?,
            "--starttls" => parsed.starttls = true,
            "--nginx-blocks" => parsed.nginx_blocks = true,
            "--dnssec" => parsed.dnssec = true,
            path => parsed.config_path = PathBuf::from(path),
        }
    }
    (parsed.domains > 0 && !parsed.config_path.as_os_str().is_empty()).then_some(parsed)
}

type Error = Box<dyn std::error::Error>;

/// A free TCP port on `ip` (bound and released: the daemons bind it next).
fn free_port(ip: Ipv4Addr) -> Result<u16, Error> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// The MX host of domain `i`.
fn mx_host(i: usize) -> String {
    format!("mx{}.bench.test", i % MX_HOSTS)
}

/// The policy text of domain `i`, as the nginx `return` directive's quoted
/// string (nginx turns `\r` and `\n` into CR and LF).
fn policy_nginx(i: usize) -> String {
    format!(
        "version: STSv1\\r\\nmode: enforce\\r\\nmx: {}\\r\\nmax_age: 1209600\\r\\n",
        mx_host(i)
    )
}

struct Ports {
    dns: u16,
    https: u16,
    smtp: u16,
}

/// The `3 1 1` TLSA association data of the MX hosts (RFC 7672 §3.1.1,
/// RFC 6698 §2.1): the SHA-256 of the SubjectPublicKeyInfo of postfix's key
/// and of the next key (`next.key`, not in use), in hex.
struct MxTlsa {
    current: String,
    next: String,
}

/// `3 1 1` data of a key: SHA-256 of its SubjectPublicKeyInfo, in hex.
fn spki_sha256(key: &KeyPair) -> String {
    use rcgen::PublicKeyData as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
    digest.as_ref().iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// The test CA and the certificates: one per policy host (all sharing one
/// key, as the fake world's do: a key per host would only cost generation
/// time) and one for the MX hosts; the MX hosts' TLSA data.
fn write_certificates(dir: &Path, args: &Args) -> Result<MxTlsa, Error> {
    let ca_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "mtasts-exporter real-world test CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = params.self_signed(&ca_key)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    let issuer = Issuer::new(params, ca_key);
    let leaf_key = KeyPair::generate()?;
    std::fs::write(dir.join("leaf.key"), leaf_key.serialize_pem())?;
    let now = time::OffsetDateTime::now_utc();
    let leaf = |names: Vec<String>| -> Result<String, Error> {
        let mut params = CertificateParams::new(names.clone())?;
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(90);
        Ok(params.signed_by(&leaf_key, &issuer)?.pem())
    };
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    for i in 0..args.domains {
        let host = format!("mta-sts.d{i}.test");
        std::fs::write(certs.join(format!("{host}.pem")), leaf(vec![host])?)?;
    }
    let mx_names: Vec<String> = (0..MX_HOSTS).map(|j| format!("mx{j}.bench.test")).collect();
    std::fs::write(dir.join("mx.pem"), leaf(mx_names)?)?;
    let next_key = KeyPair::generate()?;
    std::fs::write(dir.join("next.key"), next_key.serialize_pem())?;
    Ok(MxTlsa {
        current: spki_sha256(&leaf_key),
        next: spki_sha256(&next_key),
    })
}

/// knot: one zone `test.` with every domain's records, loaded whole, no
/// journal; with `--dnssec` signed by knot at load (keys made in the
/// world's directory, never rolled during a run) and TLSA records for the
/// MX hosts. `mod-stats` counts the queries answered.
fn write_knot(dir: &Path, args: &Args, ports: &Ports, tlsa: &MxTlsa) -> Result<PathBuf, Error> {
    let knot = dir.join("knot");
    std::fs::create_dir_all(&knot)?;
    let zone_path = knot.join("test.zone");
    let mut zone = std::io::BufWriter::new(std::fs::File::create(&zone_path)?);
    writeln!(
        zone,
        "$ORIGIN test.\n$TTL 60\n@ SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ NS ns.test.\nns A 127.0.0.1"
    )?;
    for j in 0..MX_HOSTS {
        writeln!(zone, "mx{j}.bench A 127.0.1.{}", j + 1)?;
        if args.dnssec {
            writeln!(
                zone,
                "_25._tcp.mx{j}.bench TLSA 3 1 1 {}\n_25._tcp.mx{j}.bench TLSA 3 1 1 {}",
                tlsa.current, tlsa.next
            )?;
        }
    }
    for i in 0..args.domains {
        let mx = mx_host(i);
        writeln!(
            zone,
            "_mta-sts.d{i} TXT \"v=STSv1; id=20240101\"\nmta-sts.d{i} A 127.0.0.1\nd{i} MX 10 {mx}.\n_smtp._tls.d{i} TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@bench.test\""
        )?;
    }
    zone.flush()?;
    let signing = "    dnssec-signing: on\n    dnssec-policy: bench\n";
    let root_path = knot.join("root.zone");
    let zone_options = "    journal-content: none\n    zonefile-sync: -1\n    zonefile-load: whole\n    semantic-checks: off\n";
    let signed_zones = if args.dnssec {
        format!(
            "{signing}  - domain: .\n    file: \"{root}\"\n{zone_options}{signing}",
            root = root_path.display()
        )
    } else {
        String::new()
    };
    let config = format!(
        "server:\n    rundir: \"{dir}\"\n    pidfile: \"{dir}/knot.pid\"\n    listen: 127.0.0.1@{port}\n\
         control:\n    listen: \"{dir}/knot.sock\"\n\
         database:\n    storage: \"{dir}\"\n\
         log:\n  - target: stderr\n    any: warning\n\
         mod-stats:\n  - id: bench\n    query-type: on\n\
         policy:\n  - id: bench\n    algorithm: ecdsap256sha256\n    nsec3: off\n    ksk-lifetime: 0\n    zsk-lifetime: 0\n\
         template:\n  - id: default\n    global-module: mod-stats/bench\n\
         zone:\n  - domain: test.\n    file: \"{zone}\"\n{zone_options}{signed_zones}",
        dir = knot.display(),
        port = ports.dns,
        zone = zone_path.display(),
    );
    let config_path = knot.join("knot.conf");
    std::fs::write(&config_path, config)?;
    if args.dnssec {
        // The keys of `test.` are made before knot starts, so the root zone
        // can carry their DS from the first load; knot then signs `test.`
        // with them and makes the root's own keys itself.
        for role in ["ksk=yes zsk=no", "ksk=no zsk=yes"] {
            let mut command = vec!["test.", "generate", "algorithm=ecdsap256sha256"];
            command.extend(role.split(' '));
            keymgr(&config_path, &command)?;
        }
        let ds: String = keymgr(&config_path, &["test.", "ds"])?
            .lines()
            .filter(|line| line.split_whitespace().nth(4) == Some("2"))
            .map(|line| format!("{line}\n"))
            .collect();
        if ds.is_empty() {
            return Err("keymgr gave no SHA-256 DS for test.".into());
        }
        std::fs::write(
            &root_path,
            format!(
                "$ORIGIN .\n$TTL 60\n@ SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ NS ns.test.\ntest. NS ns.test.\nns.test. A 127.0.0.1\n{ds}"
            ),
        )?;
    }
    Ok(config_path)
}

/// `keymgr -c CONFIG ARGS...`: its standard output, or an error with its
/// standard error.
fn keymgr(knot_config: &Path, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("keymgr")
        .arg("-c")
        .arg(knot_config)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "keymgr {}: {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// nginx: a certificate per policy host, either named by SNI in one server
/// block or (`--nginx-blocks`) in a server block per host; in the
/// foreground (`daemon off`), its own pid file, logs and temp paths.
fn write_nginx(dir: &Path, args: &Args, ports: &Ports) -> Result<PathBuf, Error> {
    let nginx = dir.join("nginx");
    std::fs::create_dir_all(nginx.join("tmp"))?;
    let d = nginx.display();
    let mut config = String::with_capacity(args.domains * 400 + 2048);
    write!(
        config,
        "daemon off;\nmaster_process on;\nworker_processes auto;\nworker_rlimit_nofile 65536;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
         server_names_hash_max_size {hash};\n  server_names_hash_bucket_size 64;\n  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_tickets off;\n  keepalive_timeout 5s;\n\
         ssl_certificate_key {dir}/leaf.key;\n",
        hash = (args.domains * 4).next_power_of_two().max(4096),
        dir = dir.display(),
    )?;
    if args.nginx_blocks {
        writeln!(
            config,
            "server {{ listen 127.0.0.1:{port} ssl default_server; ssl_certificate {dir}/certs/mta-sts.d0.test.pem; return 404; }}",
            port = ports.https,
            dir = dir.display(),
        )?;
        for i in 0..args.domains {
            writeln!(
                config,
                "server {{ listen 127.0.0.1:{port} ssl; server_name mta-sts.d{i}.test; ssl_certificate {dir}/certs/mta-sts.d{i}.test.pem;\n  location = /.well-known/mta-sts.txt {{ default_type text/plain; return 200 \"{policy}\"; }} location / {{ return 404; }} }}",
                port = ports.https,
                dir = dir.display(),
                policy = policy_nginx(i),
            )?;
        }
    } else {
        // One server block; the certificate named by SNI, read per
        // handshake (`ssl_certificate` with a variable); the policy's MX
        // host from a map.
        write!(
            config,
            "  map_hash_max_size {hash};\n  map_hash_bucket_size 64;\n  map $ssl_server_name $policy_mx {{\n    default \"\";\n",
            hash = (args.domains * 4).next_power_of_two().max(4096),
        )?;
        for i in 0..args.domains {
            writeln!(config, "    mta-sts.d{i}.test {};", mx_host(i))?;
        }
        write!(
            config,
            "  }}\n  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {dir}/certs/$ssl_server_name.pem;\n    location = /.well-known/mta-sts.txt {{ if ($policy_mx = \"\") {{ return 404; }} default_type text/plain; return 200 \"version: STSv1\\r\\nmode: enforce\\r\\nmx: $policy_mx\\r\\nmax_age: 1209600\\r\\n\"; }}\n    location / {{ return 404; }} }}\n",
            port = ports.https,
            dir = dir.display(),
        )?;
    }
    config.push_str("}\n");
    let path = nginx.join("nginx.conf");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// postfix: its own config directory, queue and data directories, listening
/// on the MX addresses at one port, STARTTLS offered with the MX
/// certificate; no DNS, no peer-name lookups, no per-client limits (every
/// connection comes from 127.0.0.1).
fn write_postfix(dir: &Path, ports: &Ports) -> Result<PathBuf, Error> {
    let postfix = dir.join("postfix");
    std::fs::create_dir_all(postfix.join("queue"))?;
    std::fs::create_dir_all(postfix.join("data"))?;
    // master refuses a data directory postfix does not own.
    let chown = Command::new("chown")
        .arg("postfix")
        .arg(postfix.join("data"))
        .status()?;
    if !chown.success() {
        return Err("cannot chown the postfix data directory (needs root)".into());
    }
    let addresses: Vec<String> = (0..MX_HOSTS)
        .map(|j| format!("127.0.1.{}", j + 1))
        .collect();
    let p = postfix.display();
    let main = format!(
        "compatibility_level = 3.6\nqueue_directory = {p}/queue\ndata_directory = {p}/data\n\
         command_directory = /usr/sbin\ndaemon_directory = /usr/lib/postfix/sbin\nshlib_directory = /usr/lib/postfix\n\
         mail_owner = postfix\nsetgid_group = postdrop\n\
         inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = mx.bench.test\nmydestination =\n\
         smtp_dns_support_level = disabled\nsmtpd_peername_lookup = no\n\
         smtpd_client_connection_count_limit = 0\nsmtpd_client_connection_rate_limit = 0\ndefault_process_limit = 1100\n\
         smtpd_tls_security_level = may\nsmtpd_tls_chain_files = {dir}/leaf.key, {dir}/mx.pem\n\
         smtpd_tls_session_cache_database =\nsmtpd_tls_loglevel = 0\nbiff = no\nmaillog_file = {p}/maillog\nmaillog_file_prefixes = {p}\n",
        dir = dir.display(),
    );
    std::fs::write(postfix.join("main.cf"), main)?;
    // postfix accepts in `inet_interfaces` only addresses of an interface
    // (127.0.1.N is loopback without being one): a service per address.
    let mut master = String::new();
    for address in &addresses {
        let _ = writeln!(master, "{address}:{} inet n - n - 64 smtpd", ports.smtp);
    }
    master.push_str(
        "\
         pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\n\
         tlsmgr unix - - n 1000? 1 tlsmgr\nrewrite unix - - n - - trivial-rewrite\nbounce unix - - n - 0 bounce\n\
         defer unix - - n - 0 bounce\ntrace unix - - n - 0 bounce\nverify unix - - n - 1 verify\nflush unix n - n 1000? 0 flush\n\
         proxymap unix - - n - - proxymap\nsmtp unix - - n - - smtp\nrelay unix - - n - - smtp\nshowq unix n - n - - showq\n\
         error unix - - n - - error\nretry unix - - n - - error\ndiscard unix - - n - - discard\nlocal unix - n n - - local\n\
         anvil unix - - n - 1 anvil\nscache unix - - n - 1 scache\npostlog unix-dgram n - n - 1 postlogd\n",
    );
    std::fs::write(postfix.join("master.cf"), master)?;
    Ok(postfix)
}

/// Asks a child to die with us: the kernel sends it SIGTERM when this
/// process ends, however it ends.
fn die_with_parent(command: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe and only sets a flag of the child.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        })
    }
}

/// Set by SIGINT or SIGTERM: a start-up in progress gives up (and stops
/// what it started).
static STOP: AtomicBool = AtomicBool::new(false);

/// Waits until something accepts TCP connections at `address`.
fn wait_for(address: SocketAddr, what: &str, started: Instant) -> Result<(), Error> {
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!("{what} did not come up at {address}").into());
        }
        if STOP.load(Ordering::Acquire) {
            return Err(format!("stopped while waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// DNS types asked by [`wait_for_zone`].
const TXT: u16 = 16;
const DNSKEY: u16 = 48;

/// Waits until knot answers a query for `name` of type `qtype` with an
/// answer (it listens before it has loaded, and signed, the zone): a
/// hand-made DNS query over UDP.
fn wait_for_zone(port: u16, name: &str, qtype: u16, started: Instant) -> Result<(), Error> {
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&qtype.to_be_bytes());
    query.extend_from_slice(&[0, 1]);
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut answer = [0u8; 512];
    loop {
        if started.elapsed() > Duration::from_secs(1800) || STOP.load(Ordering::Acquire) {
            return Err(format!("knot did not answer for {name}").into());
        }
        socket.send_to(&query, (Ipv4Addr::LOCALHOST, port))?;
        if let Ok(read) = socket.recv(&mut answer) {
            // NOERROR with at least one answer record.
            if read >= 12 && answer[3] & 0x0f == 0 && (answer[6] > 0 || answer[7] > 0) {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The running daemons; stopped (and the directory removed) on drop.
struct Daemons {
    dir: PathBuf,
    children: Vec<Child>,
    postfix: Option<PathBuf>,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        if let Some(config) = &self.postfix {
            // `postfix stop`, and SIGTERM to the master it names in its pid
            // file should that not end it; then wait until it is gone.
            let master = postfix_master(config);
            let _ = Command::new("postfix")
                .arg("-c")
                .arg(config)
                .arg("stop")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Some(pid) = master {
                for _ in 0..100 {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        break;
                    }
                    // SAFETY: a plain kill(2) of the postfix master we started.
                    unsafe {
                        libc::kill(pid as libc::pid_t, libc::SIGTERM);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        for child in &mut self.children {
            // SAFETY: a plain kill(2) of our own child.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The postfix master's pid, from its pid file.
fn postfix_master(config: &Path) -> Option<u32> {
    std::fs::read_to_string(config.join("queue/pid/master.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
}

/// Exporter config for this world (as `fake_world --bench` writes it).
fn exporter_config(args: &Args, ports: &Ports, dir: &Path) -> String {
    let mut yaml = format!(
        "interval: 1h\ntimeout: 30s\ncheck_starttls: {}\nconcurrency: 256\nresolver:\n  nameservers: [\"127.0.0.1:{}\"]\n  timeout: 5s\ntls:\n  ca_file: {}\nports:\n  https: {}\n  smtp: {}\nsmtp:\n  helo_name: bench.test\n  timeout: 10s\ndomains:\n",
        args.starttls,
        ports.dns,
        dir.join("ca.pem").display(),
        ports.https,
        ports.smtp
    );
    if args.dnssec {
        // DANE for every domain, validated from the zone's own key.
        yaml = yaml.replace(
            "  timeout: 5s\ntls:",
            &format!(
                "  timeout: 5s\n  trust_anchor_file: {}\ntls:",
                dir.join("trust-anchor.key").display()
            ),
        );
        yaml.insert_str(0, "dane: on\n");
    }
    for i in 0..args.domains {
        let _ = writeln!(yaml, "  - d{i}.test");
    }
    yaml
}

/// CPU seconds (user + system, with waited-for children) of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    fields
        .get(11..15)
        .map(|f| f.iter().sum::<f64>())
        .unwrap_or(0.0)
        / 100.0
}

fn start(args: &Args) -> Result<Daemons, Error> {
    let dir = std::env::temp_dir().join(format!("mtasts-real-world-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut daemons = Daemons {
        dir: dir.clone(),
        children: Vec::new(),
        postfix: None,
    };
    let ports = Ports {
        dns: free_port(Ipv4Addr::LOCALHOST)?,
        https: free_port(Ipv4Addr::LOCALHOST)?,
        smtp: free_port(Ipv4Addr::new(127, 0, 1, 1))?,
    };
    let started = Instant::now();
    let tlsa = write_certificates(&dir, args)?;
    let certs = started.elapsed().as_secs_f64();
    let knot_config = write_knot(&dir, args, &ports, &tlsa)?;
    let nginx_config = write_nginx(&dir, args, &ports)?;
    let postfix_config = write_postfix(&dir, &ports)?;
    let generated = started.elapsed().as_secs_f64();

    let start_knot = Instant::now();
    daemons.children.push(
        die_with_parent(Command::new("knotd").arg("-c").arg(&knot_config))
            .stdin(Stdio::null())
            .spawn()?,
    );
    let start_nginx = Instant::now();
    daemons.children.push(
        die_with_parent(
            Command::new("nginx")
                .arg("-c")
                .arg(&nginx_config)
                .arg("-e")
                .arg(dir.join("nginx/error.log")),
        )
        .stdin(Stdio::null())
        .spawn()?,
    );
    let nginx_pid = daemons.children[1].id();
    // Each daemon's time to serve, measured one after the other: knot
    // answering from the loaded zone, nginx accepting (it binds only once
    // it has read its whole config), then postfix started and accepting.
    wait_for_zone(
        ports.dns,
        &format!("_mta-sts.d{}.test", args.domains - 1),
        TXT,
        start_knot,
    )?;
    if args.dnssec {
        wait_for_zone(ports.dns, "test.", DNSKEY, start_knot)?;
        wait_for_zone(ports.dns, ".", DNSKEY, start_knot)?;
        write_trust_anchor(&knot_config, &dir.join("trust-anchor.key"))?;
    }
    let knot_up = start_knot.elapsed().as_secs_f64();
    wait_for(
        (Ipv4Addr::LOCALHOST, ports.https).into(),
        "nginx",
        start_nginx,
    )?;
    let nginx_up = start_nginx.elapsed().as_secs_f64();
    let start_postfix = Instant::now();
    let status = Command::new("postfix")
        .arg("-c")
        .arg(&postfix_config)
        .arg("start")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    daemons.postfix = Some(postfix_config);
    if !status.success() {
        let log = std::fs::read_to_string(dir.join("postfix/maillog")).unwrap_or_default();
        return Err(format!("postfix start failed: {status}\n{log}").into());
    }
    let smtp_address: SocketAddr = (Ipv4Addr::new(127, 0, 1, 1), ports.smtp).into();
    wait_for(smtp_address, "postfix", start_postfix)?;
    let postfix_up = start_postfix.elapsed().as_secs_f64();
    println!(
        "real world: {} domains ({}{}) generated in {generated:.1} s (certificates {certs:.1} s); \
         knot answering after {knot_up:.1} s, nginx after {nginx_up:.1} s ({:.1} CPU s, {:.0} MiB in the master), postfix {postfix_up:.1} s later; \
         DNS 127.0.0.1:{} HTTPS 127.0.0.1:{} SMTP port {}",
        args.domains,
        if args.starttls {
            "config checks STARTTLS"
        } else {
            "config skips STARTTLS"
        },
        if args.dnssec {
            ", zone signed by knot, TLSA 3 1 1 for the MX hosts, config with dane: on"
        } else {
            ""
        },
        cpu_seconds(nginx_pid),
        rss_mib(nginx_pid),
        ports.dns,
        ports.https,
        ports.smtp
    );
    let yaml = exporter_config(args, &ports, &dir);
    let temp = args.config_path.with_extension("tmp");
    std::fs::write(&temp, yaml)?;
    std::fs::write(
        args.config_path.with_extension("knot"),
        knot_config.display().to_string(),
    )?;
    std::fs::write(
        args.config_path.with_extension("pids"),
        world_pids(&daemons)
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )?;
    std::fs::rename(&temp, &args.config_path)?;
    Ok(daemons)
}

/// The trust anchor: the DNSKEY records of the signed root zone's KSKs as
/// `keymgr` prints them (`. DNSKEY 257 3 13 ...`), with the TTL and class
/// the anchor file's zone-file syntax needs.
fn write_trust_anchor(knot_config: &Path, path: &Path) -> Result<(), Error> {
    let printed = keymgr(knot_config, &[".", "dnskey"])?;
    let mut anchor = String::new();
    for line in printed.lines() {
        let mut fields = line.split_whitespace();
        if let (Some(name), Some("DNSKEY")) = (fields.next(), fields.next()) {
            let rest: Vec<&str> = fields.collect();
            let _ = writeln!(anchor, "{name} 3600 IN DNSKEY {}", rest.join(" "));
        }
    }
    if anchor.is_empty() {
        return Err(format!("keymgr gave no DNSKEY for the root zone: {printed}").into());
    }
    std::fs::write(path, anchor)?;
    Ok(())
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// The top processes of the world: knotd, the nginx master and the postfix
/// master (whose children are the workers).
fn world_pids(daemons: &Daemons) -> Vec<u32> {
    let mut pids: Vec<u32> = daemons.children.iter().map(|c| c.id()).collect();
    if let Some(pid) = daemons.postfix.as_deref().and_then(postfix_master) {
        pids.push(pid);
    }
    pids
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: real_world --bench N [--starttls] [--nginx-blocks] [--dnssec] CONFIG_OUT.yml"
        );
        std::process::exit(2);
    };
    for tool in ["knotd", "keymgr", "knotc", "nginx", "postfix"] {
        if !Path::new("/usr/sbin").join(tool).exists() {
            eprintln!(
                "{tool} missing: apt-get install -y --no-install-recommends knot nginx postfix"
            );
            std::process::exit(1);
        }
    }
    // Signals are caught from here on, so a stop during start-up still
    // stops the daemons started so far.
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("real world: cannot catch SIGTERM and SIGINT");
        std::process::exit(1);
    };
    // The daemons are started, watched and stopped by one thread that
    // lives until the end: the kernel's parent-death signal goes with the
    // thread that started a child, not with the process.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let world = std::thread::spawn(move || match start(&args) {
        Ok(daemons) => {
            let _ = ready_tx.send(Ok(()));
            let _ = stop_rx.recv();
            drop(daemons);
            args
        }
        Err(error) => {
            let _ = ready_tx.send(Err(error.to_string()));
            args
        }
    });
    let stopped_early = tokio::select! {
        ready = ready_rx => match ready {
            Ok(Ok(())) => false,
            Ok(Err(error)) => {
                eprintln!("real world: {error}");
                true
            }
            Err(_) => true,
        },
        _ = terminate.recv() => true,
        _ = interrupt.recv() => true,
    };
    if !stopped_early {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
    // A start-up in progress gives up; a running world stops.
    STOP.store(true, Ordering::Release);
    let _ = stop_tx.send(());
    let Ok(args) = world.join() else {
        std::process::exit(1);
    };
    let _ = std::fs::remove_file(&args.config_path);
    let _ = std::fs::remove_file(args.config_path.with_extension("pids"));
    let _ = std::fs::remove_file(args.config_path.with_extension("knot"));
    if stopped_early {
        std::process::exit(1);
    }
}
