//! mtasts-exporter: flags, subcommands and wiring. The work is in the library.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::{Parser, Subcommand, ValueEnum};
use mtasts_exporter::app::App;
use mtasts_exporter::check::{self, OutputFormat, EXIT_FAILED, EXIT_USAGE};
use mtasts_exporter::config::web::WebConfig;
use mtasts_exporter::config::Config;
use mtasts_exporter::echo::{capped, capped_within};
use mtasts_exporter::probe::Prober;
use mtasts_exporter::server::{self, AppState};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The configuration file read when `--config.file` is not given.
const DEFAULT_CONFIG_FILE: &str = "mtasts-exporter.yml";

/// The default listen port: above 10000 (the 9100–9999 exporter range is
/// allocated), outside Zabbix's 10050–10052; 10461 for RFC 8461.
const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:10461";

#[derive(Debug, Parser)]
#[command(
    name = "mtasts-exporter",
    about = "Prometheus exporter for MTA-STS (RFC 8461) set-ups",
    disable_version_flag = true
)]
struct Cli {
    /// Print version, git revision and Rust version, then exit.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Configuration file (YAML) [default: mtasts-exporter.yml in the working
    /// directory; `check` without it uses the built-in defaults].
    #[arg(long = "config.file", global = true, value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Address to serve metrics on; `:PORT` is every address. Give it more
    /// than once to listen on several.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", default_value = DEFAULT_LISTEN_ADDRESS)]
    listen_address: Vec<String>,
    /// Web configuration (TLS, basic auth) in the exporter-toolkit format.
    #[arg(long = "web.config.file")]
    web_config_file: Option<PathBuf>,
    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
    /// Client connections open at once. At the cap a new client takes the
    /// place of the connection idle the longest; with all busy, it waits.
    #[arg(long = "web.max-connections", default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: NonZeroUsize,
    /// Log level.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info, global = true)]
    log_level: LogLevel,
    /// Log format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    log_format: LogFormat,
    /// This replica's shard index, over the config's shard.index (same as MTASTS_SHARD_INDEX).
    #[arg(long = "shard.index", global = true)]
    shard_index: Option<u32>,
    /// The number of shards, over the config's shard.count (same as MTASTS_SHARD_COUNT).
    #[arg(long = "shard.count", global = true)]
    shard_count: Option<u32>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe domains once and print a report (exit 0: all good, 1: a check failed, 2: usage or config error).
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Domains to check (default: every configured domain).
        domains: Vec<String>,
    },
    /// Summarise the stored TLSRPT reports per domain and sender, read-only (exit 0: read, 1: spool or a stored file unreadable, 2: usage or config error).
    Reports {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Only this domain (repeatable; default: every configured domain, or every domain reported when none is configured).
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
        /// Only reports whose period ended within this long (e.g. 7d, 36h).
        #[arg(long, default_value = "7d", value_name = "DURATION")]
        since: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

fn init_logging(level: LogLevel, format: LogFormat) {
    use tracing_subscriber::prelude::*;
    let level = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    // Our own crate at the chosen level; dependencies one step quieter.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("mtasts_exporter", level)
        .with_default(if level == tracing::Level::DEBUG {
            tracing::Level::INFO
        } else {
            tracing::Level::WARN
        });
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(path) => Config::load(path).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

/// The command line, or the exit code once clap's message is printed, with
/// any long argument it repeats cut to [`capped`] length (clap prints a
/// refused value in full).
fn parse_arguments() -> Result<Cli, ExitCode> {
    let error = match Cli::try_parse() {
        Ok(cli) => return Ok(cli),
        Err(error) => error,
    };
    if !error.use_stderr() {
        // --help, --version: clap's own output, to stdout.
        error.exit();
    }
    let mut message = error.render().to_string();
    for argument in std::env::args_os().skip(1) {
        let argument = argument.to_string_lossy();
        let value = argument.split_once('=').map(|(_, value)| value);
        for value in [Some(argument.as_ref()), value].into_iter().flatten() {
            message = capped_within(&message, value).into_owned();
        }
    }
    eprint!("{message}");
    Err(ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2)))
}

/// With `--features mimalloc`, mimalloc is the allocator instead of
/// glibc's malloc (README "Performance": what it changes).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ignore_early_hangups();
    let cli = match parse_arguments() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if cli.version {
        print!("{}", mtasts_exporter::version::print("mtasts-exporter"));
        return ExitCode::SUCCESS;
    }
    // The --shard.* flags travel as the variables Config::load reads, so a
    // reload keeps them; set here, before any thread starts.
    for (var, value) in [
        (mtasts_exporter::shard_env::INDEX_VAR, cli.shard_index),
        (mtasts_exporter::shard_env::COUNT_VAR, cli.shard_count),
    ] {
        if let Some(value) = value {
            std::env::set_var(var, value.to_string());
        }
    }
    // One crypto provider for the process: the probe names `ring` explicitly,
    // and this keeps any client built without one from panicking.
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logging(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        match &cli.command {
            Some(Command::Check { output, domains }) => run_check(&cli, *output, domains).await,
            Some(Command::Reports {
                output,
                domains,
                since,
            }) => run_reports(&cli, *output, domains, since),
            None => serve(&cli).await,
        }
    });
    // A config load stopped by SIGTERM may still block a pool thread (a
    // FIFO, a hung mount): do not wait for it for ever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::from(code as u8)
}

async fn run_check(cli: &Cli, output: OutputFormat, names: &[String]) -> i32 {
    let config = match load_config(cli.config_file.as_ref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_USAGE;
        }
    };
    let domains = match check::select_domains(&config, names) {
        Ok(domains) => domains,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_USAGE;
        }
    };
    let prober = match Prober::new(&config) {
        Ok(prober) => prober,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_USAGE;
        }
    };
    let reports = check::run_checks(&prober, &domains, config.concurrency).await;
    let note = check::local_network_note(prober.local_network(), &config.addresses);
    match output {
        OutputFormat::Text => print!(
            "{note}{}",
            check::render_text_with(&reports, &check::TextOptions::from_config(&config))
        ),
        OutputFormat::Json => {
            eprint!("{note}");
            println!("{}", check::render_json(&reports));
        }
    }
    if reports.len() != domains.len() {
        return EXIT_FAILED;
    }
    check::exit_code(&reports)
}

/// The `reports` subcommand: reads the TLSRPT spool under the config's
/// `storage.path` without writing to it (README "reports").
fn run_reports(cli: &Cli, output: OutputFormat, names: &[String], since: &str) -> i32 {
    use mtasts_exporter::tlsrpt::{spool::Spool, view};
    let config = match load_config(cli.config_file.as_ref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_USAGE;
        }
    };
    let period = match mtasts_exporter::config::parse_duration(since) {
        Ok(period) => period,
        Err(error) => {
            eprintln!("error: --since: {error}");
            return EXIT_USAGE;
        }
    };
    let mut selected = Vec::new();
    for name in names {
        match mtasts_exporter::config::normalize_domain(name) {
            Ok(ascii) => selected.push(ascii),
            Err(error) => {
                eprintln!(
                    "error: --domain {:?}: {}",
                    capped(name),
                    capped_within(&error.to_string(), name)
                );
                return EXIT_USAGE;
            }
        }
    }
    let named = selected.clone();
    if selected.is_empty() {
        selected = config.domains.iter().map(|d| d.name.clone()).collect();
    }
    let Some(storage) = config.storage.path.as_ref() else {
        eprintln!(
            "error: no storage.path in {}: TLSRPT reports are stored under it (give the exporter's --config.file)",
            cli.config_file
                .as_ref()
                .map_or_else(|| "the configuration".to_string(), |p| p.display().to_string())
        );
        return EXIT_USAGE;
    };
    let spool = match Spool::open_read_only(storage, config.reports.max_decompressed_bytes) {
        Ok(spool) => spool,
        Err(error) => {
            eprintln!("error: no TLSRPT report spool to read: {error} (does the exporter with this storage.path receive reports?)");
            return EXIT_FAILED;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let since = now.saturating_sub(i64::try_from(period.as_secs()).unwrap_or(i64::MAX));
    let include = |domain: &str| selected.is_empty() || selected.iter().any(|d| d == domain);
    let configured = config.domains.iter().map(|d| d.name.clone()).collect();
    let listing = match view::read_spool_knowing(&spool, since, include, configured, &named) {
        Ok(listing) => listing,
        Err(error) => {
            eprintln!("error: cannot read the TLSRPT report spool: {error}");
            return EXIT_FAILED;
        }
    };
    for unusable in &listing.unusable {
        eprintln!(
            "error: stored report {} does not read back: {}",
            unusable.path.display(),
            capped(&unusable.problem)
        );
    }
    if listing.unusable_count > listing.unusable.len() as u64 {
        eprintln!(
            "error: {} more stored files do not read back",
            listing.unusable_count - listing.unusable.len() as u64
        );
    }
    match output {
        OutputFormat::Text => print!("{}", view::render_text(&listing, &selected, since, now)),
        OutputFormat::Json => println!("{}", view::render_json(&listing, &selected, since, now)),
    }
    if listing.unusable_count > 0 {
        EXIT_FAILED
    } else {
        check::EXIT_OK
    }
}

/// The signals the server answers, registered together before anything
/// that can take time: from then on a SIGHUP or SIGTERM is handled, never
/// the default action (for SIGHUP, death).
struct Signals {
    /// SIGHUP: reload. Deliveries before the app is ready are held by the
    /// stream (several as one) and answered once it is.
    hangup: Signal,
    /// SIGTERM or SIGINT: stop.
    shutdown: Shutdown,
}

/// SIGTERM and SIGINT (ctrl-c), registered on creation.
struct Shutdown {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            shutdown: Shutdown {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            },
        })
    }
}

impl Shutdown {
    /// Completes on SIGTERM or SIGINT.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        tracing::info!("shutting down");
    }
}

/// Until the handlers are registered, SIGHUP is ignored rather than fatal.
/// Nothing is lost: no configuration has been read yet, so there is
/// nothing to reload. Called first thing in `main`.
fn ignore_early_hangups() {
    // SAFETY: sets the disposition of one signal to SIG_IGN, with no
    // handler code; tokio's registration later replaces it (and does not
    // chain to SIG_IGN).
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Raises the soft limit on open files to the hard one, as Prometheus and
/// most servers do (the soft default, often 1,024, is a relic of select(2)),
/// and logs both; warns when the connection cap would leave the probes
/// fewer descriptors than the clients.
fn raise_descriptor_limit(max_connections: NonZeroUsize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, "cannot read the file descriptor limit");
        return;
    }
    let previous = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the rlimit we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            let error = std::io::Error::last_os_error();
            tracing::warn!(%error, soft = previous, hard = limit.rlim_max, "cannot raise the file descriptor limit");
        }
    }
    tracing::info!(
        soft = limit.rlim_cur,
        hard = limit.rlim_max,
        previous_soft = previous,
        "file descriptor limit"
    );
    let connections = u64::try_from(max_connections.get()).unwrap_or(u64::MAX);
    if connections.saturating_mul(2) > limit.rlim_cur {
        tracing::warn!(
            max_connections = connections,
            soft = limit.rlim_cur,
            "--web.max-connections is over half the descriptor limit: idle clients could leave the probes without descriptors"
        );
    }
}

/// Tells systemd (`Type=notify`) that start-up is done, when it asked
/// ($NOTIFY_SOCKET). systemd holds a `systemctl reload` issued meanwhile
/// until then: a reload right after start reaches a process that is ready
/// for it, not one still in its dynamic loader, where no program can
/// handle SIGHUP.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(error) = send_notification(&path, b"READY=1") {
        tracing::warn!(%error, "cannot tell systemd the exporter is ready");
    }
}

/// Sends one sd_notify(3) datagram to `path` (`@` starts an abstract name).
fn send_notification(path: &std::ffi::OsStr, message: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let socket = UnixDatagram::unbound()?;
    let address = match path.as_bytes().strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        _ => SocketAddr::from_pathname(path)?,
    };
    socket.send_to_addr(message, &address)?;
    Ok(())
}

/// What start-up hands to the server.
struct Started {
    listeners: Vec<tokio::net::TcpListener>,
    state: Arc<AppState>,
}

async fn serve(cli: &Cli) -> i32 {
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("cannot install signal handlers: {error}");
            return 1;
        }
    };
    raise_descriptor_limit(cli.max_connections);
    // SIGTERM during start-up (a config file on a hung mount, say) stops
    // the process as it did before the handlers existed, but cleanly.
    let started = tokio::select! {
        started = start(cli) => started,
        () = signals.shutdown.recv() => {
            tracing::info!("stopped during start-up");
            return 0;
        }
    };
    let Started { listeners, state } = match started {
        Ok(started) => started,
        Err(code) => return code,
    };
    notify_ready();
    let reloader = state.app.reloader.clone();
    let mut hangups = signals.hangup;
    let hangup = tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            let _ = reloader.reload().await;
        }
    });
    let mut shutdown = signals.shutdown;
    let shutdown = async move { shutdown.recv().await };
    let components = state.app.reloader.clone();
    let result = server::run_listeners(listeners, state, shutdown, cli.max_connections).await;
    hangup.abort();
    // Stops probing and saves the policy history (storage.path).
    components.stop().await;
    if let Err(error) = result {
        tracing::error!(%error, "server failed");
        return 1;
    }
    tracing::info!("stopped");
    0
}

/// Reads the configuration, binds the listener and starts the app; on
/// failure, the exit code (the reason is printed).
async fn start(cli: &Cli) -> Result<Started, i32> {
    let path = cli
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    // Off the async threads, so the signal handlers run meanwhile.
    let config = {
        let path = path.clone();
        blocking(move || Config::load(&path).map_err(|e| e.to_string())).await
    };
    let config = config.map_err(|error| {
        // Plain lines, once: `file:line:column: field ...` reads and
        // links better than the same text escaped in a log record.
        eprintln!("{error}");
        if cli.config_file.is_none() {
            eprintln!("{}", missing_config_hint());
        }
        EXIT_USAGE
    })?;
    warn_when_nothing_to_probe(&config);
    let web = match cli.web_config_file.clone() {
        Some(path) => blocking(move || WebConfig::load(&path).map_err(|e| e.to_string()))
            .await
            .map_err(|error| {
                eprintln!("{error}");
                EXIT_USAGE
            })?,
        None => WebConfig::default(),
    };
    // Every address or none: a failure on any one stops the start.
    let mut listeners = Vec::with_capacity(cli.listen_address.len());
    for address in &cli.listen_address {
        let listener = server::listen::bind(address).await.map_err(|error| {
            let address = capped(address);
            eprintln!("cannot listen on {address}: {error}");
            1
        })?;
        listeners.push(listener);
    }
    let bound = listeners
        .iter()
        .map(|l| match l.local_addr() {
            Ok(address) => address.to_string(),
            Err(error) => format!("unknown ({error})"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let domains = config.scheduled_domains().count();
    let total = config.domains.len();
    let app = App::start(&path, config).map_err(|error| {
        eprintln!("{}: {error}", path.display());
        EXIT_USAGE
    })?;
    tracing::info!(
        address = %bound,
        domains,
        configured = total,
        config = %path.display(),
        "mtasts-exporter listening"
    );
    let state = Arc::new(AppState {
        app,
        telemetry_path: cli.telemetry_path.clone(),
        web,
        client_timeouts: server::ClientTimeouts::default(),
    });
    Ok(Started { listeners, state })
}

/// Says how to give a configuration file, after the default one could
/// not be read.
fn missing_config_hint() -> String {
    format!(
        "no --config.file given, so the exporter looked for {DEFAULT_CONFIG_FILE} in the \
         working directory; give one with --config.file FILE (config/mtasts-exporter.yml in the \
         source is an example; README \"Configuration\")"
    )
}

/// Logs a warning when the configuration leaves this replica nothing to
/// probe on its own: no domains at all, or none in its shard. With
/// `probe.allowed_targets`, answering `/probe` alone is a set-up of its
/// own, so that case is only noted.
fn warn_when_nothing_to_probe(config: &Config) {
    let scheduled = config.scheduled_domains().count();
    if scheduled > 0 {
        return;
    }
    let probe_only = config.probe_endpoint.allowed_targets.is_some();
    if config.domains.is_empty() && probe_only {
        tracing::info!("no domains configured: only /probe probes (probe.allowed_targets)");
    } else if config.domains.is_empty() {
        tracing::warn!(
            "no domains configured: nothing will be probed; list them under domains: in the configuration file"
        );
    } else {
        tracing::warn!(
            configured = config.domains.len(),
            "no configured domain falls in this replica's shard: nothing will be probed here"
        );
    }
}

/// Runs `load` on the blocking pool; a load that panicked is an error.
async fn blocking<T: Send + 'static>(
    load: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(load)
        .await
        .unwrap_or_else(|error| Err(format!("loading failed: {error}")))
}
