//! `duncan lock status|release|hold`: who holds the deploy lock, freeing one left behind, and
//! deploy freezes (holds).

use duncan_core::hold::{HoldError, HoldState, read_hold, release_hold, set_hold};
use duncan_core::lock::{HolderInfo, LockHeld, LockStatus, force_release, lock_status};
use duncan_core::names::AppEnv;
use serde_json::json;

use super::{context, deploy::target};
use crate::cli::{LockAction, LockArgs};
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus, Failure, error_chain};
use crate::output::{BOLD, GREEN, Output, YELLOW, env_name, paint};
use crate::prompt::{Answer, confirm};

/// Runs `duncan lock`.
pub fn run(config: &Config, out: Output, args: &LockArgs) -> CommandResult {
    match &args.action {
        LockAction::Status { target: t } => status(config, out, &target(config, t)?),
        LockAction::Release { target: t, yes } => release(config, out, &target(config, t)?, *yes),
        LockAction::Hold { target: t, reason } => hold(config, out, &target(config, t)?, reason),
    }
}

fn status(config: &Config, out: Output, app_env: &AppEnv) -> CommandResult {
    let consul = context::consul(config)?;
    let settings = context::settings(config)?;
    let (status, hold) = super::runtime()?
        .block_on(async {
            // One after the other: a Consul that cannot be reached is tried once.
            let status = lock_status(&consul, app_env).await?;
            let hold = read_hold(&consul, app_env).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, hold))
        })
        .map_err(|e| explain_for(&*e, config, &Intent::read_deploys(app_env)))?;
    let limit = settings.stale_lock_after;
    if out.json {
        let mut doc = match &status {
            LockStatus::Held(held) => json!({
                "app_env": app_env.to_string(),
                "held": true,
                "holder": holder_json(held),
                "probably_stale": held.is_probably_stale(limit),
            }),
            _ => json!({"app_env": app_env.to_string(), "held": false}),
        };
        doc["hold"] = serde_json::to_value(&hold).unwrap_or_default();
        out.json(&doc)?;
        return Ok(ExitStatus::Ok);
    }
    let name = format!("{}/{}", app_env.app, env_name(app_env.env.as_str()));
    match status {
        LockStatus::Held(held) => {
            out.line(format!("{name} is {} by {held}", paint(YELLOW, "locked")))?;
            if held.is_probably_stale(limit) {
                out.line(stale_hint(&held, app_env, limit))?;
            }
        }
        _ => out.line(format!("{name} is {}", paint(GREEN, "free")))?,
    }
    if let Some(hold) = hold {
        out.line(format!("{name} is {}: {hold}", paint(YELLOW, "on hold")))?;
    }
    Ok(ExitStatus::Ok)
}

/// "probably stale" and what to do about it.
fn stale_hint(held: &LockHeld, app_env: &AppEnv, limit: std::time::Duration) -> String {
    let limit = crate::duration::format_duration(limit);
    let why = match held.holder {
        HolderInfo::GoTool { .. } => format!(
            "probably stale: the Go tool's lock is older than {limit} (timeouts.stale_lock), so \
             duncan takes it over; the Go tool leaves its lock behind when a deploy fails"
        ),
        _ => format!("probably stale: held for longer than {limit} (timeouts.stale_lock)"),
    };
    format!(
        "{why}; if no deploy runs, free it with `duncan lock release -a {} -e {}`",
        app_env.app, app_env.env
    )
}

fn hold(config: &Config, out: Output, app_env: &AppEnv, reason: &str) -> CommandResult {
    let consul = context::consul(config)?;
    let settings = context::settings(config)?;
    let result = super::runtime()?.block_on(set_hold(
        &consul,
        app_env,
        reason,
        &settings.deployer,
        settings.audit_retention,
    ));
    let hold = match result {
        Ok(hold) => hold,
        Err(HoldError::AlreadyHeld { state, .. }) => {
            return Err(Failure::new(
                ExitStatus::LockHeld,
                format!("deploys of {app_env} are on hold already: {state}; it was left as it is"),
            )
            .hint(format!(
                "end it first with `duncan lock release -a {} -e {}`",
                app_env.app, app_env.env
            )));
        }
        Err(HoldError::BadReason) => {
            return Err(Failure::usage(error_chain(&HoldError::BadReason))
                .hint("say why, for example --reason \"incident 4711\""));
        }
        Err(error) => return Err(explain_for(&error, config, &Intent::write_deploys(app_env))),
    };
    if out.json {
        out.json(&json!({"app_env": app_env.to_string(), "hold": hold}))?;
        return Ok(ExitStatus::Ok);
    }
    out.line(format!(
        "{} deploys, rollbacks and scales of {app_env} are refused until `duncan lock release -a {} -e {}`",
        paint(YELLOW, "on hold:"),
        app_env.app,
        app_env.env
    ))?;
    out.line(format!("hold: {}", HoldState::Hold(hold)))?;
    Ok(ExitStatus::Ok)
}

fn release(config: &Config, out: Output, app_env: &AppEnv, yes: bool) -> CommandResult {
    let consul = context::consul(config)?;
    let settings = context::settings(config)?;
    let runtime = super::runtime()?;
    let (status, hold) = runtime
        .block_on(async {
            // One after the other: a Consul that cannot be reached is tried once.
            let status = lock_status(&consul, app_env).await?;
            let hold = read_hold(&consul, app_env).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, hold))
        })
        .map_err(|e| explain_for(&*e, config, &Intent::read_deploys(app_env)))?;
    let held = match status {
        LockStatus::Held(held) => Some(held),
        _ => None,
    };
    if held.is_none() && hold.is_none() {
        if out.json {
            out.json(&json!({"app_env": app_env.to_string(), "released": false, "was_held": false, "hold_released": false}))?;
        } else {
            out.line(format!(
                "{app_env} is not locked and not on hold; nothing to release"
            ))?;
        }
        return Ok(ExitStatus::Ok);
    }
    if !out.json {
        if let Some(held) = &held {
            out.line(format!(
                "{} {app_env} is locked by {held}",
                paint(BOLD, "release the lock?")
            ))?;
            out.line("releasing it lets someone else deploy while that deploy may still run")?;
        }
        if let Some(hold) = &hold {
            out.line(format!(
                "{} deploys of {app_env} are on hold: {hold}",
                paint(BOLD, "end the hold?")
            ))?;
        }
    }
    if confirm(yes, "--yes")? == Answer::No {
        out.line("aborted: the lock and the hold were left as they are")?;
        return Ok(ExitStatus::Ok);
    }
    let deployer = &settings.deployer;
    let retention = settings.audit_retention;
    let (freed, ended) = runtime.block_on(async {
        let freed = match held {
            Some(_) => Some(force_release(&consul, app_env, deployer, retention).await),
            None => None,
        };
        let ended = match hold {
            Some(_) => Some(release_hold(&consul, app_env, deployer, retention).await),
            None => None,
        };
        (freed, ended)
    });
    let freed = freed
        .transpose()
        .map_err(|e| explain_for(&e, config, &Intent::write_deploys(app_env)))?
        .flatten();
    let ended = ended
        .transpose()
        .map_err(|e| explain_for(&e, config, &Intent::write_deploys(app_env)))?
        .flatten();
    if out.json {
        out.json(&json!({
            "app_env": app_env.to_string(),
            "released": freed.is_some(),
            "holder": freed.as_ref().map(holder_json),
            "hold_released": ended.is_some(),
            "hold": ended,
        }))?;
        return Ok(ExitStatus::Ok);
    }
    match freed {
        Some(held) => out.line(format!(
            "{} the lock of {app_env} (was held by {held})",
            paint(GREEN, "released")
        ))?,
        None if ended.is_none() => {
            out.line(format!("{app_env} was freed meanwhile; nothing to release"))?;
        }
        None => {}
    }
    if let Some(hold) = ended {
        out.line(format!(
            "{} the hold on {app_env} (was {hold}); deploys may go ahead",
            paint(GREEN, "ended")
        ))?;
    }
    Ok(ExitStatus::Ok)
}

/// For a lock held longer than `timeouts.stale_lock`: that it is probably stale, and how to free
/// it (`None` for a younger lock).
pub fn stale_lock_hint(held: &LockHeld, config: &Config) -> Option<String> {
    let limit = config.stale_lock.value;
    held.is_probably_stale(limit)
        .then(|| stale_hint(held, &held.target, limit))
}

/// What to do about a hold that refused an operation.
pub fn on_hold_hint(app_env: &AppEnv) -> String {
    format!(
        "the hold stays until someone runs `duncan lock release -a {} -e {}`; ask whoever set it",
        app_env.app, app_env.env
    )
}

fn holder_json(held: &LockHeld) -> serde_json::Value {
    match &held.holder {
        HolderInfo::Duncan(h) => serde_json::to_value(h).unwrap_or_default(),
        HolderInfo::GoTool { user, since } => json!({
            "description": held.to_string(),
            "go_tool": true,
            "user": user,
            "since": since.format(&time::format_description::well_known::Rfc3339).ok(),
        }),
        other => {
            json!({"description": held.to_string(), "duncan": matches!(other, HolderInfo::Duncan(_))})
        }
    }
}
