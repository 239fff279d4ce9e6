//! The `doorman` command: `run`, `check`, `audit`, `--version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use doorman::metrics::{ReloadResult, metrics};
use doorman::server::Reloader;
use doorman::{Config, Server, logging};

/// jemalloc, with background threads that give freed memory back to the
/// system a few seconds after it is freed: after a burst of sessions,
/// doorman's RSS goes back down. glibc's malloc kept it (120 MiB after 5,000
/// sessions had come and gone); `bench/compare.sh idle` measures both.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code for an invalid configuration or command line.
const EXIT_CONFIG: u8 = 2;
/// Exit code when doorman could not start (e.g. the port is taken).
const EXIT_START: u8 = 1;

#[derive(Parser)]
#[command(name = "doorman", version, about = "SMTP proxy/filter in front of an existing MTA")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve SMTP until SIGTERM or SIGINT.
    Run {
        /// Configuration file.
        #[arg(long, default_value = "proxy.yaml")]
        config: PathBuf,
    },
    /// Validate the configuration and print the effective one.
    Check {
        /// Configuration file.
        #[arg(long, default_value = "proxy.yaml")]
        config: PathBuf,
    },
    /// Audit a mail server from the outside (read-only), and with --config
    /// show what doorman would change.
    Audit(doorman::audit::AuditArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return doorman::audit::usage_error(&e),
    };
    match cli.command {
        Cmd::Check { config } => check(&config),
        Cmd::Run { config } => run(&config),
        Cmd::Audit(args) => doorman::audit::main(&args),
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn check(path: &std::path::Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for w in config.warnings() {
        eprintln!("warning: {w}");
    }
    match config.to_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot print the configuration: {e}");
            ExitCode::from(EXIT_START)
        }
    }
}

fn run(path: &std::path::Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = logging::init(&config.log) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    for w in config.warnings() {
        warn!("{w}");
    }
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        warn!(error = %e, "jemalloc background threads did not start: freed memory goes back to the system later");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the runtime");
            return ExitCode::from(EXIT_START);
        }
    };
    runtime.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::from(EXIT_START);
            }
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(on_signals(shutdown.clone()));
        tokio::spawn(on_reload(path.to_owned(), server.reloader()));
        info!(version = env!("CARGO_PKG_VERSION"), "doorman started");
        server.run(shutdown).await;
        info!("doorman stopped");
        ExitCode::SUCCESS
    })
}

/// SIGHUP re-reads the configuration; an invalid one is refused and the
/// running one stays.
async fn on_reload(path: PathBuf, reloader: Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    #[allow(clippy::expect_used)] // startup: without the handler SIGHUP would kill the process
    let mut hup = signal(SignalKind::hangup()).expect("failed to register SIGHUP handler");
    while hup.recv().await.is_some() {
        let result = Config::load(&path).map_err(|e| e.to_string()).and_then(|c| {
            for w in c.warnings() {
                warn!("{w}");
            }
            reloader.reload(c)
        });
        match result {
            Ok(()) => {
                metrics().reload(ReloadResult::Ok);
                info!(config = %path.display(), "configuration reloaded; new sessions use it");
            }
            Err(e) => {
                metrics().reload(ReloadResult::Refused);
                error!(error = %e, "reload refused; the running configuration stays");
            }
        }
    }
}

/// SIGTERM or SIGINT starts a graceful shutdown; a second one exits at once.
async fn on_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    #[allow(clippy::expect_used)]
    // startup: without signal handlers doorman cannot shut down cleanly
    let (mut term, mut int) = (
        signal(SignalKind::terminate()).expect("failed to register SIGTERM handler"),
        signal(SignalKind::interrupt()).expect("failed to register SIGINT handler"),
    );
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    info!("signal received: graceful shutdown");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    warn!("second signal: exiting now");
    std::process::exit(i32::from(EXIT_START));
}
