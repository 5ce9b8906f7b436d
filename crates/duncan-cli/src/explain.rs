//! Turning library errors into one line a person can act on, with the right exit code.
//!
//! The libraries' errors already say what happened; here the chain of causes is walked to find
//! the client error underneath, which decides the exit code (an ACL refusal is 7) and the hint
//! (which setting points at the unreachable service).

use std::error::Error;

use crate::config::Config;
use crate::failure::{ExitStatus, Failure, error_chain};

/// Every error in the chain, outermost first.
fn chain<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |e: &&'a (dyn Error + 'static)| (*e).source())
}

/// The innermost cause: for a transport error, the operating system's reason.
fn root_cause(error: &(dyn Error + 'static)) -> String {
    chain(error)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Explains `error` as a [`Failure`].
pub fn explain(error: &(dyn Error + 'static), config: &Config) -> Failure {
    let top = error.to_string();
    for cause in chain(error) {
        if let Some(e) = cause.downcast_ref::<consul_client::Error>() {
            return explain_consul(&top, e, config).unwrap_or_else(|| generic(error));
        }
        if let Some(e) = cause.downcast_ref::<marathon_client::Error>() {
            return explain_marathon(&top, e, config).unwrap_or_else(|| generic(error));
        }
    }
    generic(error)
}

fn generic(error: &(dyn Error + 'static)) -> Failure {
    Failure::error(error_chain(error))
}

fn joined(top: &str, detail: &str) -> String {
    if top.contains(detail) {
        top.to_owned()
    } else {
        format!("{top}: {detail}")
    }
}

fn explain_consul(top: &str, e: &consul_client::Error, config: &Config) -> Option<Failure> {
    let token_source = match &config.consul_token.value {
        Some(_) => format!("the token from {}", config.consul_token.source),
        None => "no token (none is configured)".to_owned(),
    };
    match e {
        consul_client::Error::AclNotFound => Some(
            Failure::new(
                ExitStatus::NotAllowed,
                joined(top, "Consul does not know the ACL token"),
            )
            .hint(format!(
                "duncan sent {token_source}; check consul_token or CONSUL_HTTP_TOKEN"
            )),
        ),
        e if e.is_permission_denied() => Some(
            Failure::new(
                ExitStatus::NotAllowed,
                joined(top, "permission denied by Consul's ACL"),
            )
            .hint(format!(
                "duncan sent {token_source}; ask for a token that may write this app and \
                     environment's keys"
            )),
        ),
        consul_client::Error::Transport { source } => Some(
            Failure::error(joined(
                top,
                &format!(
                    "cannot reach Consul at {}: {}",
                    config.consul_url.value,
                    root_cause(source)
                ),
            ))
            .hint(format!(
                "check that Consul answers there (address from {}; set consul_host in \
                 ~/.duncan.yml or CONSUL_HTTP_ADDR)",
                config.consul_url.source
            )),
        ),
        _ => None,
    }
}

fn explain_marathon(top: &str, e: &marathon_client::Error, config: &Config) -> Option<Failure> {
    let url = config
        .marathon_url
        .value
        .as_deref()
        .unwrap_or("(not configured)");
    match e {
        marathon_client::Error::Transport { source, .. } => Some(
            Failure::error(joined(
                top,
                &format!("cannot reach Marathon at {url}: {}", root_cause(source)),
            ))
            .hint(format!(
                "check that Marathon answers there (address from {}; set marathon_host or \
                     marathon_url in ~/.duncan.yml, or MARATHON_URL)",
                config.marathon_url.source
            )),
        ),
        marathon_client::Error::Unauthorized { .. } | marathon_client::Error::Forbidden { .. } => {
            Some(
                Failure::new(ExitStatus::NotAllowed, error_chain_of(top, e))
                    .hint("check the DC/OS token (DCOS_ACS_TOKEN or marathon_token)"),
            )
        }
        marathon_client::Error::Unavailable { .. } => Some(
            Failure::error(error_chain_of(top, e))
                .hint("Marathon has no leader or is starting; try again in a minute"),
        ),
        _ => None,
    }
}

fn error_chain_of(top: &str, e: &marathon_client::Error) -> String {
    joined(top, &e.to_string())
}
