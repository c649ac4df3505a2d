//! The `strangler` command line: run | up | check | plan | schema | ramp | report. Thin: parse the
//! arguments, set up logging and the runtime, call the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Requests allocate small buffers; mimalloc serves them from thread-local
/// pages (the glibc allocator was ~5% of the proxy's CPU). See `alloc`.
#[global_allocator]
static ALLOCATOR: strangler::alloc::Allocator = strangler::alloc::Allocator;

#[derive(Parser)]
#[command(
    name = "strangler",
    version,
    about = "Edge proxy for strangler-fig migrations"
)]
struct Cli {
    /// Log line format on stderr (`RUST_LOG` filters).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the proxy and the admin API.
    Run {
        /// The routes.yaml to serve (watched: edits apply without a restart).
        #[arg(long, default_value = "routes.yaml")]
        config: PathBuf,
    },
    /// The demo: start legacy-stub and the three services in-process, then the proxy.
    Up {
        /// The routes.yaml to serve; its upstream URLs say where the demo's services listen.
        #[arg(long, default_value = "routes.yaml")]
        config: PathBuf,
    },
    /// Validate a routes.yaml; print a summary and warnings; exit 1 on error.
    Check {
        /// The routes.yaml to validate.
        #[arg(default_value = "routes.yaml")]
        config: PathBuf,
    },
    /// What an edit of routes.yaml changes, before it applies: routes added,
    /// removed, changed or moved, breakers that reset, and where requests go
    /// before and after.
    Plan {
        /// The configuration in use.
        old: PathBuf,
        /// The edited configuration.
        new: PathBuf,
        /// A request to follow, as `"METHOD /path"` (repeatable); one per
        /// route's match is always followed.
        #[arg(long = "path")]
        paths: Vec<String>,
        /// Also follow the requests of this shadow log (up to 20 distinct).
        #[arg(long)]
        log: Option<PathBuf>,
    },
    /// Print the JSON Schema of routes.yaml (for editors: completion and checks).
    Schema,
    /// A ramp's state, or an operator's action on it, through the admin API.
    Ramp {
        /// status, pause, resume, promote or rollback.
        #[arg(value_parser = ["status", "pause", "resume", "promote", "rollback"])]
        action: String,
        /// The route whose ramp (all ramps for `status` without it).
        name: Option<String>,
        /// The admin API's address.
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: std::net::SocketAddr,
    },
    /// The shadow-diff report from one or more shadow logs.
    Report {
        /// A shadow log (JSON lines); repeat for one per replica
        /// [default: shadow-diffs.jsonl].
        #[arg(long = "log")]
        logs: Vec<PathBuf>,
        /// Also write a self-contained HTML report here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Only this route.
        #[arg(long)]
        route: Option<String>,
        /// Judge each route by its `shadow.ready` in this routes.yaml
        /// [default: 99.9% over at least 100 comparisons].
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // rustls warns of what a client's hello carries (an IP address as SNI,
    // as wrk and scripts send it), once per connection: the client's doing,
    // not the proxy's, and no use at WARN. A RUST_LOG naming rustls decides.
    let names_rustls = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("rustls"));
    if let (false, Ok(quiet)) = (names_rustls, "rustls::msgs::handshake=error".parse()) {
        filter = filter.add_directive(quiet);
    }
    // Colour only for a person at a terminal, and never with NO_COLOR.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Run { config } => strangler::cli::run(config, false, false),
        // The demo's hints are for a person: not in a JSON log stream.
        Command::Up { config } => {
            let hints = matches!(cli.log_format, LogFormat::Text);
            strangler::cli::run(config, true, hints)
        }
        Command::Check { config } => strangler::cli::check(&config),
        Command::Plan {
            old,
            new,
            paths,
            log,
        } => strangler::cli::plan(&old, &new, &paths, log.as_deref()),
        Command::Schema => {
            let schema = strangler::config::schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Ramp {
            action,
            name,
            admin,
        } => strangler::ramp::command::run(&action, name.as_deref(), admin),
        Command::Report {
            logs,
            html,
            route,
            config,
        } => strangler::cli::report(&logs, html.as_deref(), route.as_deref(), config.as_deref()),
    }
}
