//! One module per command; [`run`] loads the configuration and dispatches.

mod config_show;

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
    match cli.command {
        Command::Config(args) => match args.action {
            ConfigAction::Show => config_show::run(&config, out),
            ConfigAction::Search { .. } => Err(not_yet("config search")),
        },
        Command::Deploy(_) => Err(not_yet("deploy")),
        Command::Rollback(_) => Err(not_yet("rollback")),
        Command::Status(_) => Err(not_yet("status")),
        Command::History(_) => Err(not_yet("history")),
        Command::Lock(_) => Err(not_yet("lock")),
        Command::Env(_) => Err(not_yet("env")),
        Command::Scale(_) => Err(not_yet("scale")),
        Command::Watch(_) => Err(not_yet("watch")),
        Command::Version | Command::Completions(_) => Ok(ExitStatus::Ok),
    }
}

// Temporary while duncan-core's operations land; replaced command by command.
fn not_yet(command: &str) -> Failure {
    Failure::error(format!("`{command}` is not available in this build"))
}

fn version(out: Output) -> CommandResult {
    let version = env!("CARGO_PKG_VERSION");
    if out.json {
        out.json(&json!({"name": "duncan", "version": version}))?;
    } else {
        out.line(format!("duncan {version}"))?;
    }
    Ok(ExitStatus::Ok)
}
