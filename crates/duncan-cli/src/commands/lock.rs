//! `duncan lock status|release`: who holds the deploy lock, and freeing one left behind.

use duncan_core::lock::{HolderInfo, LockHeld, LockStatus, force_release, lock_status};
use serde_json::json;

use super::{context, deploy::target};
use crate::cli::{LockAction, LockArgs};
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus};
use crate::output::{BOLD, GREEN, Output, YELLOW, env_name, paint};
use crate::prompt::{Answer, confirm};

/// Runs `duncan lock`.
pub fn run(config: &Config, out: Output, args: &LockArgs) -> CommandResult {
    match &args.action {
        LockAction::Status { target: t } => {
            let app_env = target(config, t)?;
            let consul = context::consul(config)?;
            let status = super::runtime()?
                .block_on(lock_status(&consul, &app_env))
                .map_err(|e| explain_for(&e, config, &Intent::read_deploys(&app_env)))?;
            if out.json {
                out.json(&match &status {
                    LockStatus::Held(held) => json!({"app_env": app_env.to_string(), "held": true, "holder": holder_json(held)}),
                    _ => json!({"app_env": app_env.to_string(), "held": false}),
                })?;
                return Ok(ExitStatus::Ok);
            }
            let name = format!("{}/{}", app_env.app, env_name(app_env.env.as_str()));
            match status {
                LockStatus::Held(held) => {
                    out.line(format!("{name} is {} by {held}", paint(YELLOW, "locked")))?
                }
                _ => out.line(format!("{name} is {}", paint(GREEN, "free")))?,
            }
            Ok(ExitStatus::Ok)
        }
        LockAction::Release { target: t, yes } => {
            let app_env = target(config, t)?;
            let consul = context::consul(config)?;
            let settings = context::settings(config)?;
            let runtime = super::runtime()?;
            let status = runtime
                .block_on(lock_status(&consul, &app_env))
                .map_err(|e| explain_for(&e, config, &Intent::read_deploys(&app_env)))?;
            let LockStatus::Held(held) = status else {
                if out.json {
                    out.json(&json!({"app_env": app_env.to_string(), "released": false, "was_held": false}))?;
                } else {
                    out.line(format!("{app_env} is not locked; nothing to release"))?;
                }
                return Ok(ExitStatus::Ok);
            };
            if !out.json {
                out.line(format!(
                    "{} {app_env} is locked by {held}",
                    paint(BOLD, "release the lock?")
                ))?;
                out.line("releasing it lets someone else deploy while that deploy may still run")?;
            }
            if confirm(*yes, "--yes")? == Answer::No {
                out.line("aborted: the lock was left as it is")?;
                return Ok(ExitStatus::Ok);
            }
            let freed = runtime
                .block_on(force_release(
                    &consul,
                    &app_env,
                    &settings.deployer,
                    settings.audit_retention,
                ))
                .map_err(|e| explain_for(&e, config, &Intent::write_deploys(&app_env)))?;
            if out.json {
                out.json(&json!({
                    "app_env": app_env.to_string(),
                    "released": freed.is_some(),
                    "holder": freed.as_ref().map(holder_json),
                }))?;
            } else if let Some(held) = freed {
                out.line(format!(
                    "{} the lock of {app_env} (was held by {held})",
                    paint(GREEN, "released")
                ))?;
            } else {
                out.line(format!("{app_env} was freed meanwhile; nothing to release"))?;
            }
            Ok(ExitStatus::Ok)
        }
    }
}

fn holder_json(held: &LockHeld) -> serde_json::Value {
    match &held.holder {
        HolderInfo::Duncan(h) => serde_json::to_value(h).unwrap_or_default(),
        other => {
            json!({"description": held.to_string(), "duncan": matches!(other, HolderInfo::Duncan(_))})
        }
    }
}
