//! The app/envs a command over many (`status`, `log`, `report`) covers: the one named, or every
//! configured app in every allowed environment.

use duncan_core::names::AppEnv;

use crate::config::Config;
use crate::failure::Failure;

/// `app` (else every app under `apps`) in `env` (else every allowed environment), in the
/// configuration's order.
pub fn targets(
    config: &Config,
    app: Option<&str>,
    env: Option<&str>,
) -> Result<Vec<AppEnv>, Failure> {
    let apps: Vec<String> = match app {
        Some(app) => vec![app.to_owned()],
        None if config.apps.value.is_empty() => {
            return Err(Failure::usage("no app given and none configured")
                .hint("pass --app APP, or list your apps under `apps` in ~/.duncan.yml"));
        }
        None => config.apps.value.clone(),
    };
    let envs: Vec<String> = match env {
        Some(env) => {
            config.check_environment(env)?;
            vec![env.to_owned()]
        }
        None => config.environments.value.clone(),
    };
    let mut targets = Vec::new();
    for app in &apps {
        for env in &envs {
            targets.push(AppEnv::parse(app, env).map_err(|e| {
                Failure::usage(e.to_string())
                    .hint("app and environment names are lowercase letters, digits and '-'")
            })?);
        }
    }
    Ok(targets)
}
