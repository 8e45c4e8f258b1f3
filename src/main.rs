//! mtasts-exporter: flags, subcommands and wiring. The work is in the library.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::{Parser, Subcommand, ValueEnum};
use mtasts_exporter::app::App;
use mtasts_exporter::check::{self, OutputFormat, EXIT_FAILED, EXIT_USAGE};
use mtasts_exporter::config::Config;
use mtasts_exporter::probe::Prober;
use mtasts_exporter::server::{self, AppState};
use mtasts_exporter::web_config::WebConfig;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    /// Configuration file (YAML).
    #[arg(long = "config.file", global = true)]
    config_file: Option<PathBuf>,
    /// Address to serve metrics on.
    #[arg(long = "web.listen-address", default_value = DEFAULT_LISTEN_ADDRESS)]
    listen_address: String,
    /// Web configuration (TLS, basic auth) in the exporter-toolkit format.
    #[arg(long = "web.config.file")]
    web_config_file: Option<PathBuf>,
    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            None => serve(&cli).await,
        }
    });
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
    match output {
        OutputFormat::Text => print!("{}", check::render_text(&reports)),
        OutputFormat::Json => println!("{}", check::render_json(&reports)),
    }
    if reports.len() != domains.len() {
        return EXIT_FAILED;
    }
    check::exit_code(&reports)
}

async fn serve(cli: &Cli) -> i32 {
    let path = cli
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("mtasts-exporter.yml"));
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(error) => {
            // Plain lines, once: `file:line:column: field ...` reads and
            // links better than the same text escaped in a log record.
            eprintln!("{error}");
            return EXIT_USAGE;
        }
    };
    let web = match &cli.web_config_file {
        Some(path) => match WebConfig::load(path) {
            Ok(web) => web,
            Err(error) => {
                eprintln!("{error}");
                return EXIT_USAGE;
            }
        },
        None => WebConfig::default(),
    };
    let listener = match tokio::net::TcpListener::bind(&cli.listen_address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", cli.listen_address);
            return 1;
        }
    };
    let domains = config.scheduled_domains().count();
    let total = config.domains.len();
    let app = match App::start(&path, config) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{}: {error}", path.display());
            return EXIT_USAGE;
        }
    };
    tracing::info!(
        address = %cli.listen_address,
        domains,
        configured = total,
        config = %path.display(),
        "mtasts-exporter listening"
    );
    let reloader = app.reloader.clone();
    let hangup = tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            let _ = reloader.reload().await;
        }
    });
    let state = Arc::new(AppState {
        app,
        telemetry_path: cli.telemetry_path.clone(),
        web,
        client_timeouts: server::ClientTimeouts::default(),
    });
    let result = server::run(listener, state, shutdown_signal()).await;
    hangup.abort();
    if let Err(error) = result {
        tracing::error!(%error, "server failed");
        return 1;
    }
    tracing::info!("stopped");
    0
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
