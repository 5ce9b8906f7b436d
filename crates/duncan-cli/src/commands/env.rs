//! `duncan env list|get|set|unset` (and the Go tool's `del`): the app's variables in Consul.

use std::io::IsTerminal;

use duncan_core::env_vars::{self, EnvChange, EnvVarError, parse_assignment};
use duncan_core::names::{AppEnv, EnvVarName};
use serde_json::json;

use super::{context, deploy::target};
use crate::cli::{EnvAction, EnvArgs, Target};
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus, Failure};
use crate::output::{BOLD, CYAN, Output, RED, YELLOW, env_name, paint};
use crate::prompt::{Answer, confirm};

/// Runs `duncan env`.
pub fn run(config: &Config, out: Output, args: EnvArgs) -> CommandResult {
    let (Some(app), Some(env)) = (args.app.clone(), args.env.clone()) else {
        return Err(Failure::usage("env needs --app and --env")
            .hint("for example: duncan env get -a dogfood -e stage"));
    };
    let app_env = target(config, &Target { app, env })?;
    let consul = context::consul(config)?;
    let runtime = super::runtime()?;
    let keys = format!("env/{app_env}/");
    let read = |e: EnvVarError| failure(config, &e, &Intent::Read(keys.clone()));
    let write = |e: EnvVarError| failure(config, &e, &Intent::Write(keys.clone()));
    let confirmed = args.confirmed();
    match args.action {
        EnvAction::List => list(
            &runtime
                .block_on(readable_vars(&consul, &app_env))
                .map_err(read)?,
            out,
        ),
        EnvAction::Get { keys } if keys.is_empty() => list(
            &runtime
                .block_on(readable_vars(&consul, &app_env))
                .map_err(read)?,
            out,
        ),
        EnvAction::Get { keys } => {
            let names = names(&keys)?;
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for name in &names {
                match runtime
                    .block_on(env_vars::get(&consul, &app_env, name))
                    .map_err(read)?
                {
                    Some(value) => found.push((name.clone(), value)),
                    None => missing.push(name.to_string()),
                }
            }
            if out.json {
                let map: serde_json::Map<String, serde_json::Value> = found
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                out.json(&json!({"variables": map, "missing": missing}))?;
            } else if names.len() == 1 {
                if let Some((_, value)) = found.first() {
                    out.line(value)?;
                }
            } else {
                for (name, value) in &found {
                    out.line(format!("{name}={value}"))?;
                }
            }
            if missing.is_empty() {
                Ok(ExitStatus::Ok)
            } else {
                Err(
                    Failure::error(format!("not set for {app_env}: {}", missing.join(", ")))
                        .hint("`duncan env get` with no key lists every variable"),
                )
            }
        }
        EnvAction::Set { pairs, .. } => {
            let mut assignments = Vec::with_capacity(pairs.len());
            for pair in &pairs {
                assignments.push(parse_assignment(pair).map_err(|e| {
                    Failure::usage(e.to_string())
                        .hint("write each as KEY=VALUE; everything after the first = is the value")
                })?);
            }
            let shown: Vec<String> = assignments
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            ask(out, &app_env, "set", &shown, confirmed)?;
            let settings = context::settings(config)?;
            let changes = runtime
                .block_on(env_vars::set(
                    &consul,
                    &app_env,
                    &settings.deployer,
                    &assignments,
                    settings.audit_retention,
                ))
                .map_err(write)?;
            report(out, &changes)
        }
        EnvAction::Unset { keys, .. } => {
            let names = names(&keys)?;
            let shown: Vec<String> = names.iter().map(ToString::to_string).collect();
            ask(out, &app_env, "delete", &shown, confirmed)?;
            let settings = context::settings(config)?;
            let changes = runtime
                .block_on(env_vars::unset(
                    &consul,
                    &app_env,
                    &settings.deployer,
                    &names,
                    settings.audit_retention,
                ))
                .map_err(write)?;
            report(out, &changes)
        }
    }
}

/// The variables of `target`. Consul filters a recursive read down to what the token may read,
/// so an empty answer may hide a refusal: a read of one key under the prefix tells (403 when the
/// prefix is off limits, 404 when it is merely empty).
pub(super) async fn readable_vars(
    consul: &consul_client::Client,
    target: &AppEnv,
) -> Result<Vec<env_vars::EnvVar>, EnvVarError> {
    let vars = env_vars::list(consul, target).await?;
    if vars.is_empty()
        && let Ok(probe) = "DUNCAN_READ_PROBE".parse::<EnvVarName>()
    {
        env_vars::get(consul, target, &probe).await?;
    }
    Ok(vars)
}

fn names(keys: &[String]) -> Result<Vec<EnvVarName>, Failure> {
    keys.iter()
        .map(|k| {
            k.parse::<EnvVarName>().map_err(|e| {
                Failure::usage(e.to_string())
                    .hint("variable names are letters, digits and '_', not starting with a digit")
            })
        })
        .collect()
}

fn list(vars: &[env_vars::EnvVar], out: Output) -> CommandResult {
    if out.json {
        let map: serde_json::Map<String, serde_json::Value> = vars
            .iter()
            .map(|v| (v.name.to_string(), json!(v.value)))
            .collect();
        out.json(&map)?;
    } else {
        // Sorted KEY=VALUE lines, as the Go tool printed them.
        for var in vars {
            out.line(var.to_string())?;
        }
    }
    Ok(ExitStatus::Ok)
}

/// Shows what is about to change and asks, as the Go tool did (only on a terminal).
fn ask(
    out: Output,
    app_env: &AppEnv,
    operation: &str,
    items: &[String],
    yes: bool,
) -> Result<(), Failure> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !yes && interactive && !out.json {
        let mut err = Vec::new();
        err.push("You are about to modify the following environment:".to_owned());
        err.push(String::new());
        err.push(format!(
            "  {} {}",
            paint(BOLD, "app:"),
            paint(YELLOW, app_env.app.as_str())
        ));
        err.push(format!(
            "  {} {}",
            paint(BOLD, "env:"),
            env_name(app_env.env.as_str())
        ));
        err.push(format!(
            "  {} {}",
            paint(BOLD, "operation:"),
            paint(CYAN, operation)
        ));
        err.push(String::new());
        err.extend(items.iter().cloned());
        if operation == "set" {
            err.push(String::new());
            err.push(format!(
                "{} environment variables are NOT encrypted; do not store passwords or tokens here",
                paint(RED, "WARNING:")
            ));
        }
        for line in err {
            out.line(line)?;
        }
    }
    match confirm(yes, "--yes")? {
        Answer::Yes => Ok(()),
        Answer::No => Err(Failure::new(ExitStatus::Ok, "aborted: nothing was changed")),
    }
}

fn report(out: Output, changes: &[EnvChange]) -> CommandResult {
    if out.json {
        out.json(changes)?;
    } else {
        for change in changes {
            out.line(change.to_string())?;
        }
    }
    Ok(ExitStatus::Ok)
}

fn failure(config: &Config, error: &EnvVarError, intent: &Intent) -> Failure {
    match error {
        EnvVarError::Conflict { .. } => Failure::error(error.to_string()),
        EnvVarError::Duplicate { .. }
        | EnvVarError::NotAnAssignment { .. }
        | EnvVarError::InvalidName(_) => Failure::usage(error.to_string()),
        _ => explain_for(error, config, intent),
    }
}
