//! `doorman audit`: the command line, the runtime, the output and the exit
//! code. Everything below it is a library (`audit::run`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};

use super::conn::Limits;
use super::plan::{Plan, Target, check_domain, check_user, random_local_part};
use super::progress::Progress;
use super::report::{EXIT_UNAUDITED, Report};
use super::{Request, render, run};
use crate::config::Config;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// JSON (docs/audit.md has the schema).
    Json,
}

/// Colour in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal (and not with NO_COLOR).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `doorman audit` arguments.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The server: HOST:PORT, [IPv6]:PORT, or HOST (port 25).
    pub target: String,
    /// Also audit the server through doorman with this configuration (run
    /// in-process on 127.0.0.1) and show both side by side.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// table or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Colour in the table: auto, always, never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// A mailbox that exists, besides postmaster (local part or address).
    #[arg(long)]
    pub user: Option<String>,
    /// The mail domain for VRFY, EXPN and RCPT; default the greeting's name.
    #[arg(long)]
    pub domain: Option<String>,
    /// The name sent with EHLO.
    #[arg(long, default_value = "doorman-audit.invalid")]
    pub helo: String,
    /// The name the certificate must carry; default the target's host name,
    /// or the greeting's for an IP address.
    #[arg(long)]
    pub tls_name: Option<String>,
    /// Limit for each connect, reply and TLS handshake (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Limit for the whole audit (e.g. 60s).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
}

/// A command-line error of any subcommand: `audit` exits with
/// [`EXIT_UNAUDITED`] (2 means "high" there), the others as clap says.
pub fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    let audit = std::env::args_os().nth(1).is_some_and(|a| a == "audit");
    match (e.use_stderr(), audit) {
        (false, _) => ExitCode::SUCCESS,
        (true, true) => ExitCode::from(EXIT_UNAUDITED),
        (true, false) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
    }
}

fn request(args: &AuditArgs) -> Result<Request, String> {
    let target = Target::parse(&args.target)?;
    check_domain("--helo", &args.helo)?;
    if let Some(d) = &args.domain {
        check_domain("--domain", d)?;
    }
    if let Some(n) = &args.tls_name {
        check_domain("--tls-name", n).or_else(|e| n.parse::<std::net::IpAddr>().map(|_| ()).map_err(|_| e))?;
    }
    if let Some(u) = &args.user {
        check_user(u)?;
    }
    if args.timeout.is_zero() || args.deadline < args.timeout {
        return Err("--timeout must be positive and --deadline at least --timeout".into());
    }
    let config = args.config.as_deref().map(Config::load).transpose().map_err(|e| e.to_string())?;
    let plan = Plan {
        target,
        helo: args.helo.clone(),
        domain: args.domain.clone(),
        user: args.user.clone(),
        tls_name: args.tls_name.clone(),
        // Set again when the runtime starts; the deadline counts from there.
        limits: Limits { step: args.timeout, deadline: tokio::time::Instant::now() + args.deadline },
        unknown_local: random_local_part(),
    };
    let now =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(Request { plan, config, now })
}

/// Runs `doorman audit`.
pub fn main(args: &AuditArgs) -> ExitCode {
    let mut req = match request(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNAUDITED);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_UNAUDITED);
        }
    };
    let mut progress = if args.format == Format::Table { Progress::stderr() } else { Progress::none() };
    let report = runtime.block_on(async {
        req.plan.limits.deadline = tokio::time::Instant::now() + args.deadline;
        // Every step is bounded already; this is the backstop.
        tokio::time::timeout(args.deadline + Duration::from_secs(10), run(req, &mut progress)).await
    });
    progress.done();
    // Blocking probe threads end within their own limits; do not wait on them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let Ok(report) = report else {
        eprintln!("error: the audit did not finish within {:?}", args.deadline);
        return ExitCode::from(EXIT_UNAUDITED);
    };
    let written = output(&report, args);
    if let Err(e) = written {
        eprintln!("error: cannot write the report: {e}");
        return ExitCode::from(EXIT_UNAUDITED);
    }
    ExitCode::from(report.exit_code)
}

fn output(report: &Report, args: &AuditArgs) -> std::io::Result<()> {
    match args.format {
        Format::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, report).map_err(std::io::Error::other)?;
            writeln!(out)
        }
        Format::Table => {
            let choice = match args.color {
                Color::Auto => anstream::ColorChoice::Auto,
                Color::Always => anstream::ColorChoice::Always,
                Color::Never => anstream::ColorChoice::Never,
            };
            let mut out = anstream::AutoStream::new(std::io::stdout().lock(), choice);
            render::table(report, &mut out)?;
            out.flush()
        }
    }
}
