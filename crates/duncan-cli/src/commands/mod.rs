//! One module per command; [`run`] loads the configuration and dispatches.

mod config_search;
mod config_show;
mod context;
mod deploy;
mod env;
mod history;
mod lock;
mod log;
mod plan_view;
mod report;
mod scale;
mod status;
mod targets;
mod watch;

use std::io::Write;

use clap::CommandFactory;
use serde_json::json;

use crate::cli::{Cli, Command, ConfigAction};
use crate::config::{Config, Overrides};
use crate::failure::{CommandResult, ExitStatus, Failure};
use crate::output::Output;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> CommandResult {
    let out = Output {
        json: cli.global.json,
        quiet: cli.global.quiet,
    };
    // These two need no configuration, so a broken file cannot stop them.
    match &cli.command {
        Command::Version => return version(out),
        Command::Completions(args) => {
            let mut buf = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "duncan", &mut buf);
            std::io::stdout().lock().write_all(&buf)?;
            return Ok(ExitStatus::Ok);
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            std::io::stdout().lock().write_all(&buf)?;
            return Ok(ExitStatus::Ok);
        }
        _ => {}
    }
    let overrides = Overrides {
        config: cli.global.config.clone(),
        consul_url: cli.global.consul_url.clone(),
        marathon_url: cli.global.marathon_url.clone(),
    };
    let config = Config::load(&overrides, &|name| std::env::var(name).ok())?;
    for warning in &config.warnings {
        out.warn(warning);
    }
    if let Some(app) = cli.command.app() {
        config.check_app(app)?;
    }
    match cli.command {
        Command::Config(args) => match args.action {
            ConfigAction::Show => config_show::run(&config, out),
            ConfigAction::Search { pattern, env } => {
                config_search::run(&config, out, &pattern, env.as_deref())
            }
        },
        Command::Deploy(args) => deploy::deploy(&config, out, args),
        Command::Rollback(args) => deploy::rollback(&config, out, args),
        Command::Status(args) => status::run(&config, out, &args),
        Command::History(args) => history::run(&config, out, &args),
        Command::Lock(args) => lock::run(&config, out, &args),
        Command::Log(args) => log::run(&config, out, &args),
        Command::Env(args) => env::run(&config, out, args),
        Command::Scale(args) => scale::run(&config, out, &args),
        Command::Watch(args) => watch::run(&config, out, &args),
        Command::Report(args) => report::run(&config, out, &args),
        Command::Version | Command::Completions(_) | Command::Man => Ok(ExitStatus::Ok),
    }
}

/// The async runtime of one command. Two worker threads are plenty for a handful of requests.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the async runtime: {e}")))
}

fn version(out: Output) -> CommandResult {
    let version = env!("CARGO_PKG_VERSION");
    // `cargo xtask release` stamps the commit it builds from.
    let commit = option_env!("DUNCAN_GIT_COMMIT");
    if out.json {
        out.json(&json!({"name": "duncan", "version": version, "commit": commit}))?;
    } else if let Some(commit) = commit {
        out.line(format!("duncan {version} (commit {commit})"))?;
    } else {
        out.line(format!("duncan {version}"))?;
    }
    Ok(ExitStatus::Ok)
}
