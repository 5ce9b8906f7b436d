//! `duncan config search PATTERN [-e ENV]`: variable names matching `.*PATTERN.*` across every
//! configured app and environment, read concurrently, as the Go tool printed them.

use duncan_core::env_vars::{EnvVar, EnvVarError};
use duncan_core::names::AppEnv;
use regex::Regex;
use serde_json::json;

use super::context;
use crate::config::{Config, redact_url};
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus, Failure, error_chain};
use crate::output::{DIM, GREEN, Output, paint};

/// What reading one app/env gave.
enum Found {
    /// The matching variables, sorted by name.
    Matches(Vec<EnvVar>),
    /// The app/env could not be read.
    Skipped(String),
}

/// Runs `duncan config search`.
pub fn run(config: &Config, out: Output, pattern: &str, env: Option<&str>) -> CommandResult {
    let regex = compile(pattern)?;
    if config.apps.value.is_empty() {
        return Err(Failure::usage("no apps to search: `apps` is empty in the configuration")
            .hint("list your apps under `apps` in ~/.duncan.yml (Consul's ACLs do not let duncan list them)"));
    }
    let envs: Vec<String> = match env {
        Some(env) => {
            config.check_environment(env)?;
            vec![env.to_owned()]
        }
        None => config.environments.value.clone(),
    };
    let mut targets = Vec::new();
    for app in &config.apps.value {
        for env in &envs {
            let target = AppEnv::parse(app, env).map_err(|e| {
                Failure::usage(format!("configuration: apps: {e}"))
                    .hint("fix `apps` in ~/.duncan.yml")
            })?;
            targets.push(target);
        }
    }
    let consul = context::consul(config)?;
    let results = super::runtime()?.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, target) in targets.iter().cloned().enumerate() {
            let consul = consul.clone();
            tasks.spawn(async move { (i, super::env::readable_vars(&consul, &target).await) });
        }
        let mut results: Vec<Option<Result<Vec<EnvVar>, EnvVarError>>> =
            targets.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, result)) = joined
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some(result);
            }
        }
        results
    });
    // Nothing could be read at all: an error, never an empty result. A refused token says
    // which of its cases it is; another cause (Consul unreachable, not Consul) is said once.
    if results.iter().all(|r| !matches!(r, Some(Ok(_)))) {
        let first = |denied: bool| {
            targets
                .iter()
                .zip(&results)
                .find_map(|(target, r)| match r {
                    Some(Err(e)) if matches!(e, EnvVarError::PermissionDenied { .. }) == denied => {
                        Some((target, e))
                    }
                    _ => None,
                })
        };
        if let Some((target, error)) = first(false).or_else(|| first(true)) {
            let failure = explain_for(error, config, &Intent::Read(format!("env/{target}/")));
            return Err(Failure {
                message: format!("could not search any app: {}", failure.message),
                ..failure
            });
        }
        return Err(Failure::error("could not search any app: no read finished"));
    }
    let found: Vec<(AppEnv, Found)> = targets
        .into_iter()
        .zip(results)
        .map(|(target, result)| {
            let found = match result {
                Some(Ok(vars)) => Found::Matches(
                    vars.into_iter()
                        .filter(|v| regex.is_match(v.name.as_str()))
                        .collect(),
                ),
                Some(Err(EnvVarError::PermissionDenied { .. })) => {
                    Found::Skipped("the Consul token may not read it".to_owned())
                }
                Some(Err(e)) => Found::Skipped(redact_url(&error_chain(&e)).into_owned()),
                None => Found::Skipped("the read did not finish".to_owned()),
            };
            (target, found)
        })
        .collect();

    if out.json {
        let matches: Vec<_> = found
            .iter()
            .filter_map(|(t, f)| match f {
                Found::Matches(vars) if !vars.is_empty() => Some(json!({
                    "app": t.app.as_str(), "env": t.env.as_str(),
                    "variables": vars.iter().map(|v| json!({"name": v.name.as_str(), "value": v.value})).collect::<Vec<_>>(),
                })),
                _ => None,
            })
            .collect();
        let skipped: Vec<_> = found
            .iter()
            .filter_map(|(t, f)| match f {
                Found::Skipped(why) => {
                    Some(json!({"app": t.app.as_str(), "env": t.env.as_str(), "reason": why}))
                }
                Found::Matches(_) => None,
            })
            .collect();
        out.json(&json!({"pattern": pattern, "matches": matches, "skipped": skipped}))?;
        return Ok(ExitStatus::Ok);
    }
    for (target, result) in &found {
        if let Found::Matches(vars) = result
            && !vars.is_empty()
        {
            out.line(paint(GREEN, format!("{}-{}", target.app, target.env)))?;
            for var in vars {
                out.line(var.to_string())?;
            }
        }
    }
    for (target, result) in &found {
        if let Found::Skipped(why) = result {
            out.line(paint(
                DIM,
                format!("skipped {}-{}: {why}", target.app, target.env),
            ))?;
        }
    }
    Ok(ExitStatus::Ok)
}

/// Compiles `.*PATTERN.*` as the Go tool did; an invalid pattern is a usage error on one line.
fn compile(pattern: &str) -> Result<Regex, Failure> {
    Regex::new(&format!(".*{pattern}.*")).map_err(|e| {
        let text = e.to_string();
        let reason = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or(&text)
            .trim()
            .trim_start_matches("error: ")
            .to_owned();
        Failure::usage(format!("invalid search pattern `{pattern}`: {reason}")).hint(
            "the pattern is a regular expression; escape special characters such as ( [ * with \\",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn pattern_matches_anywhere_in_the_name() {
        let re = compile("DATABASE").unwrap();
        assert!(re.is_match("MAIN_DATABASE_URL"));
        assert!(!re.is_match("REDIS_URL"));
    }

    #[test]
    fn invalid_pattern_is_one_line_usage_error() {
        let failure = compile("(unclosed").unwrap_err();
        assert!(!failure.message.contains('\n'), "{}", failure.message);
        assert!(failure.message.contains("unclosed"), "{}", failure.message);
    }
}
