//! Turning library errors into one line a person can act on, with the right exit code.
//!
//! The libraries' errors already say what happened; here the chain of causes is walked to find
//! the client error underneath, which decides the exit code (an ACL refusal is 7) and the hint
//! (which setting points at the unreachable service).

use std::borrow::Cow;
use std::error::Error;
use std::path::Path;

use duncan_core::names::AppEnv;

use crate::config::{Config, Source, redact_url};
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

/// Explains `error` as a [`Failure`]. Credentials in any URL the message or hint names are
/// hidden (see [`redact_url`]), whoever wrote them: this module's own texts or a library's.
pub fn explain(error: &(dyn Error + 'static), config: &Config) -> Failure {
    let mut failure = explain_unredacted(error, config);
    failure.message = redact_url(&failure.message).into_owned();
    failure.hint = failure.hint.map(|hint| redact_url(&hint).into_owned());
    failure
}

fn explain_unredacted(error: &(dyn Error + 'static), config: &Config) -> Failure {
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
    match e {
        consul_client::Error::AclNotFound => {
            let failure = token_refusal(config, TokenCase::Unknown, &Intent::Unnamed);
            Some(Failure {
                message: joined(top, &failure.message),
                ..failure
            })
        }
        e if e.is_permission_denied() => {
            let failure = token_refusal(config, token_case(e, config), &Intent::Unnamed);
            Some(Failure {
                message: joined(top, &failure.message),
                ..failure
            })
        }
        consul_client::Error::NotConsul { address, reason } => Some(
            Failure::error(joined(
                top,
                &format!(
                    "{} does not look like Consul ({reason})",
                    redact_url(address)
                ),
            ))
            .hint(format!(
                "check CONSUL_HTTP_ADDR / consul_url (the address came from {})",
                config.consul_url.source
            )),
        ),
        // Every endpoint duncan uses exists in Consul, whose missing keys are answered with its
        // index headers (not an error): a bare 404 comes from something else.
        consul_client::Error::Server { status: 404, .. } => Some(
            Failure::error(joined(
                top,
                &format!(
                    "{} does not look like Consul (HTTP 404 to an endpoint every Consul serves)",
                    redact_url(&config.consul_url.value)
                ),
            ))
            .hint(format!(
                "check CONSUL_HTTP_ADDR / consul_url (the address came from {})",
                config.consul_url.source
            )),
        ),
        consul_client::Error::ResponseTooLarge { address, limit } => Some(
            Failure::error(joined(
                top,
                &format!(
                    "{} answered with more than {limit} bytes, which Consul does not",
                    redact_url(address)
                ),
            ))
            .hint(format!(
                "check CONSUL_HTTP_ADDR / consul_url (the address came from {})",
                config.consul_url.source
            )),
        ),
        consul_client::Error::Certificate { problem, .. } => Some(refused_certificate(
            top,
            &Service::consul(config),
            &Refusal::from(problem),
        )),
        consul_client::Error::Transport { source } => Some(
            Failure::error(joined(
                top,
                &format!(
                    "cannot reach Consul at {}: {}",
                    redact_url(&config.consul_url.value),
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

/// What a command needed the token for: reading or writing, and which keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Reading keys under this prefix (`env get`, `lock status`, `history`, `status`).
    Read(String),
    /// Writing keys under this prefix (`env set`, `lock release`, deploy).
    Write(String),
    /// Not said by the caller.
    Unnamed,
}

/// Which of Consul's three token refusals happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCase {
    /// No token was sent: Consul judged the anonymous token, which lacks the rights.
    NoToken,
    /// Consul does not know the token sent (`ACL not found`).
    Unknown,
    /// Consul knows the token, but its policy lacks the rights.
    Denied,
}

/// The case of a permission refusal: whether a token was sent decides it.
impl Intent {
    /// Reading the app/env's `deploys/{app}/{env}/` keys (lock, tags, history).
    pub fn read_deploys(app_env: &AppEnv) -> Self {
        Self::Read(format!("deploys/{app_env}/"))
    }

    /// Writing the app/env's `deploys/{app}/{env}/` keys (lock, tags, history, audit).
    pub fn write_deploys(app_env: &AppEnv) -> Self {
        Self::Write(format!("deploys/{app_env}/"))
    }
}

fn token_case(e: &consul_client::Error, config: &Config) -> TokenCase {
    let sent = match e {
        consul_client::Error::PermissionDenied { token_sent, .. } => *token_sent,
        // A txn's refusal does not say; the configuration does.
        _ => config.consul_token.value.is_some(),
    };
    if sent {
        TokenCase::Denied
    } else {
        TokenCase::NoToken
    }
}

/// Explains `error` for a command that needed the token for `intent`: Consul's token refusals
/// say which of the three cases it is, what the command needed and which setting to change;
/// anything else is explained as [`explain`] does.
pub fn explain_for(error: &(dyn Error + 'static), config: &Config, intent: &Intent) -> Failure {
    let refusal = chain(error)
        .find_map(|cause| cause.downcast_ref::<consul_client::Error>())
        .and_then(|e| match e {
            consul_client::Error::AclNotFound => Some(TokenCase::Unknown),
            e if e.is_permission_denied() => Some(token_case(e, config)),
            _ => None,
        });
    match refusal {
        Some(case) => {
            let failure = token_refusal(config, case, intent);
            Failure {
                message: redact_url(&failure.message).into_owned(),
                ..failure
            }
        }
        None => explain(error, config),
    }
}

/// A deploy refused by the ACL probe (duncan-core's `NotAllowed`, which does not keep Consul's
/// answer): which token case it is, found out from the configuration and, when a token is set,
/// by asking Consul about it (`acl/token/self`, which any token it knows may read).
pub fn write_refused(
    config: &Config,
    app_env: &AppEnv,
    consul: Option<&consul_client::Client>,
) -> Failure {
    let intent = Intent::write_deploys(app_env);
    if config.consul_token.value.is_none() {
        return token_refusal(config, TokenCase::NoToken, &intent);
    }
    let known = consul.and_then(|consul| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        match runtime.block_on(consul.acl().token_self()) {
            Ok(_) => Some(TokenCase::Denied),
            Err(consul_client::Error::AclNotFound) => Some(TokenCase::Unknown),
            Err(_) => None,
        }
    });
    match known {
        Some(case) => token_refusal(config, case, &intent),
        // Consul did not say which: say both, rather than guess.
        None => Failure::new(
            ExitStatus::NotAllowed,
            format!(
                "the Consul token (from {}) is unknown to Consul or may not write keys under \
                 deploys/{app_env}/",
                config.consul_token.source
            ),
        )
        .hint(format!(
            "check the token in {}; it needs key_prefix \"deploys/{app_env}/\" {{ policy = \"write\" }}",
            config.consul_token.source
        )),
    }
}

/// One of Consul's token refusals, as one line and the setting to change (exit 7). Never
/// holds the token itself, only where it came from.
pub fn token_refusal(config: &Config, case: TokenCase, intent: &Intent) -> Failure {
    let (need, rule) = match intent {
        Intent::Read(keys) => (format!("read keys under {keys}"), Some((keys, "read"))),
        Intent::Write(keys) => (format!("write keys under {keys}"), Some((keys, "write"))),
        Intent::Unnamed => ("do this".to_owned(), None),
    };
    let source = &config.consul_token.source;
    let (message, hint) = match case {
        TokenCase::NoToken => (
            format!("no Consul token is set, and Consul's anonymous token may not {need}"),
            format!(
                "set CONSUL_HTTP_TOKEN (or CONSUL_HTTP_TOKEN_FILE, or consul_token in \
                 ~/.duncan.yml) to a token that may {need}"
            ),
        ),
        TokenCase::Unknown => (
            format!(
                "Consul does not know the ACL token duncan sent (from {source}): it was deleted, \
                 has expired or is mistyped"
            ),
            format!(
                "check the token in {source}; `consul acl token read -self` tells whether \
                 Consul knows it"
            ),
        ),
        TokenCase::Denied => (
            format!(
                "the Consul token (from {source}) may not {need}: permission denied by Consul's ACL"
            ),
            match rule {
                Some((keys, policy)) => format!(
                    "ask for a token whose policy has key_prefix \"{keys}\" {{ policy = \"{policy}\" }}"
                ),
                None => "ask for a token that may manage this app and environment".to_owned(),
            },
        ),
    };
    Failure::new(ExitStatus::NotAllowed, message).hint(hint)
}

fn explain_marathon(top: &str, e: &marathon_client::Error, config: &Config) -> Option<Failure> {
    let url = redact_url(
        config
            .marathon_url
            .value
            .as_deref()
            .unwrap_or("(not configured)"),
    );
    match e {
        marathon_client::Error::Certificate { problem, .. } => Some(refused_certificate(
            top,
            &Service::marathon(config),
            &Refusal::from(problem),
        )),
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
            let forbidden = matches!(e, marathon_client::Error::Forbidden { .. });
            Some(marathon_refusal(top, e, config, forbidden))
        }
        marathon_client::Error::Unavailable { .. } => Some(
            Failure::error(error_chain_of(top, e))
                .hint("Marathon has no leader or is starting; try again in a minute"),
        ),
        marathon_client::Error::Login { .. } => Some(
            Failure::new(ExitStatus::NotAllowed, error_chain_of(top, e)).hint(format!(
                "check the service account credential (from {}): DC/OS must know its uid with \
                 this key's public key (dcos security org service-accounts show UID)",
                config.marathon_service_account.source
            )),
        ),
        _ => None,
    }
}

/// Marathon's 401 or 403: which credentials were sent and where they came from (never the
/// credentials themselves), and the setting to change.
fn marathon_refusal(
    top: &str,
    e: &marathon_client::Error,
    config: &Config,
    forbidden: bool,
) -> Failure {
    const TOKEN_SETTINGS: &str = "DCOS_ACS_TOKEN, DUNCAN_MARATHON_TOKEN or marathon_token";
    let url = config.marathon_url.value.as_deref().unwrap_or_default();
    let url_has_credentials = redact_url(url) != url;
    let (sent, hint) = match (&config.marathon_token.value, url_has_credentials) {
        _ if config.marathon_service_account.value.is_some() => {
            let source = &config.marathon_service_account.source;
            (
                format!("duncan logged in as the service account from {source}"),
                if forbidden {
                    "grant that service account the permission in DC/OS".to_owned()
                } else {
                    "DC/OS refused the token it gave that service account, also after logging in again".to_owned()
                },
            )
        }
        (Some(_), _) => {
            let source = &config.marathon_token.source;
            (
                format!("duncan sent the token from {source}"),
                if forbidden {
                    format!("ask for a DC/OS token that may do this, and set it in {source}")
                } else {
                    format!(
                        "the token in {source} is wrong or has expired; `dcos auth login` gets a new one"
                    )
                },
            )
        }
        (None, true) => (
            format!(
                "duncan sent the user and password in Marathon's address (from {})",
                config.marathon_url.source
            ),
            if forbidden {
                "that user may not do this; use an account that may".to_owned()
            } else {
                format!(
                    "check the user and password in the address, or set a token ({TOKEN_SETTINGS})"
                )
            },
        ),
        (None, false) => (
            "duncan sent no credentials: no Marathon token is set".to_owned(),
            format!("set a DC/OS token in {TOKEN_SETTINGS}"),
        ),
    };
    Failure::new(
        ExitStatus::NotAllowed,
        format!("{} ({sent})", error_chain_of(top, e)),
    )
    .hint(hint)
}

fn error_chain_of(top: &str, e: &marathon_client::Error) -> String {
    joined(top, &e.to_string())
}

/// Why a service's TLS certificate was refused, whichever client refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    UnknownIssuer,
    NotValidForName,
    Expired,
    NotYetValid,
    Revoked,
    /// Another reason, as the client words it.
    Other(String),
}

impl From<&consul_client::CertificateProblem> for Refusal {
    fn from(problem: &consul_client::CertificateProblem) -> Self {
        use consul_client::CertificateProblem as P;
        match problem {
            P::UnknownIssuer => Self::UnknownIssuer,
            P::NotValidForName => Self::NotValidForName,
            P::Expired => Self::Expired,
            P::NotYetValid => Self::NotYetValid,
            P::Revoked => Self::Revoked,
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<&marathon_client::CertificateProblem> for Refusal {
    fn from(problem: &marathon_client::CertificateProblem) -> Self {
        use marathon_client::CertificateProblem as P;
        match problem {
            P::UnknownIssuer => Self::UnknownIssuer,
            P::NotValidForName => Self::NotValidForName,
            P::Expired => Self::Expired,
            P::NotYetValid => Self::NotYetValid,
            P::Revoked => Self::Revoked,
            other => Self::Other(other.to_string()),
        }
    }
}

/// What the explanation of a refused certificate says about the service that sent it.
struct Service<'a> {
    name: &'static str,
    /// The address, credentials hidden.
    url: Cow<'a, str>,
    url_source: &'a Source,
    /// Where its address can be set.
    url_settings: &'static str,
    /// Where its CA can be set.
    ca_settings: &'static str,
    /// The CA file duncan was told to trust for it, and where that came from.
    ca: Option<(&'a Path, &'a Source)>,
}

impl<'a> Service<'a> {
    fn consul(config: &'a Config) -> Self {
        Self {
            name: "Consul",
            url: redact_url(&config.consul_url.value),
            url_source: &config.consul_url.source,
            url_settings: "consul_url or consul_host in ~/.duncan.yml, or CONSUL_HTTP_ADDR",
            ca_settings: "CONSUL_CACERT (or consul_cacert in ~/.duncan.yml)",
            ca: config
                .consul_cacert
                .value
                .as_deref()
                .map(|path| (path, &config.consul_cacert.source)),
        }
    }

    fn marathon(config: &'a Config) -> Self {
        Self {
            name: "Marathon",
            url: redact_url(
                config
                    .marathon_url
                    .value
                    .as_deref()
                    .unwrap_or("(not configured)"),
            ),
            url_source: &config.marathon_url.source,
            url_settings: "marathon_host or marathon_url in ~/.duncan.yml, or MARATHON_URL",
            ca_settings: "MARATHON_CACERT (or marathon_cacert in ~/.duncan.yml)",
            ca: config
                .marathon_cacert
                .value
                .as_deref()
                .map(|path| (path, &config.marathon_cacert.source)),
        }
    }
}

/// A refused certificate: what is wrong with it, and the one setting (or person) that fixes it.
/// Retrying cannot help, so the hint never says to check that the service answers.
fn refused_certificate(top: &str, service: &Service<'_>, refusal: &Refusal) -> Failure {
    let name = service.name;
    let what = match refusal {
        Refusal::UnknownIssuer => "it is signed by a certificate authority duncan does not trust",
        Refusal::NotValidForName => "it is not issued for the host name in that address",
        Refusal::Expired => "it has expired",
        Refusal::NotYetValid => "it is not valid yet",
        Refusal::Revoked => "it has been revoked",
        Refusal::Other(text) => text,
    };
    let hint = match (refusal, service.ca) {
        (Refusal::UnknownIssuer, None) => format!(
            "set {} to the PEM file of the CA that signed {name}'s certificate",
            service.ca_settings
        ),
        (Refusal::UnknownIssuer, Some((path, source))) => format!(
            "the CA in {} (from {source}) did not sign {name}'s certificate; set {} to the PEM \
             file of the CA that did",
            path.display(),
            service.ca_settings
        ),
        (Refusal::NotValidForName, _) => format!(
            "use the host name {name}'s certificate is issued for in its address (from {}; set \
             {})",
            service.url_source, service.url_settings
        ),
        (Refusal::Expired, _) => {
            format!("{name}'s certificate needs renewing, or check this computer's clock")
        }
        (Refusal::NotYetValid, _) => format!(
            "check this computer's clock, or {name}'s certificate needs renewing with a start \
             date that has passed"
        ),
        (Refusal::Revoked, _) => format!("{name}'s certificate needs replacing"),
        (Refusal::Other(_), _) => format!("check the certificate {name} presents at that address"),
    };
    Failure::error(joined(
        top,
        &format!(
            "{name}'s TLS certificate at {} is refused: {what}",
            service.url
        ),
    ))
    .hint(hint)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Overrides;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_parts(None, &Overrides::default(), &|name| vars.get(name).cloned())
            .expect("config")
    }

    fn hint(failure: &Failure) -> &str {
        failure.hint.as_deref().unwrap_or_default()
    }

    const MARATHON: (&str, &str) = ("MARATHON_URL", "https://dcos.example/service/marathon");

    #[test]
    fn both_clients_problems_map_to_the_same_refusals() {
        use consul_client::CertificateProblem as C;
        use marathon_client::CertificateProblem as M;
        let pairs = [
            (C::UnknownIssuer, M::UnknownIssuer, Refusal::UnknownIssuer),
            (
                C::NotValidForName,
                M::NotValidForName,
                Refusal::NotValidForName,
            ),
            (C::Expired, M::Expired, Refusal::Expired),
            (C::NotYetValid, M::NotYetValid, Refusal::NotYetValid),
            (C::Revoked, M::Revoked, Refusal::Revoked),
        ];
        for (consul, marathon, refusal) in pairs {
            assert_eq!(Refusal::from(&consul), refusal);
            assert_eq!(Refusal::from(&marathon), refusal);
        }
        assert_eq!(
            Refusal::from(&C::Other("invalid certificate: bad signature".into())),
            Refusal::Other("invalid certificate: bad signature".into())
        );
    }

    #[test]
    fn unknown_issuer_without_a_ca_names_the_ca_setting_of_each_service() {
        let config = config(&[MARATHON]);
        let consul = refused_certificate("top", &Service::consul(&config), &Refusal::UnknownIssuer);
        let marathon =
            refused_certificate("top", &Service::marathon(&config), &Refusal::UnknownIssuer);
        assert_eq!(
            hint(&consul),
            "set CONSUL_CACERT (or consul_cacert in ~/.duncan.yml) to the PEM file of the CA that \
             signed Consul's certificate"
        );
        assert_eq!(
            hint(&marathon),
            "set MARATHON_CACERT (or marathon_cacert in ~/.duncan.yml) to the PEM file of the CA \
             that signed Marathon's certificate"
        );
        assert_eq!(
            marathon.message,
            "top: Marathon's TLS certificate at https://dcos.example/service/marathon is refused: \
             it is signed by a certificate authority duncan does not trust"
        );
        assert_eq!(marathon.status, ExitStatus::Error);
    }

    #[test]
    fn unknown_issuer_with_a_ca_says_that_ca_did_not_sign_it() {
        let config = config(&[MARATHON, ("CONSUL_CACERT", "/etc/ssl/other-ca.pem")]);
        let failure =
            refused_certificate("top", &Service::consul(&config), &Refusal::UnknownIssuer);
        assert_eq!(
            hint(&failure),
            "the CA in /etc/ssl/other-ca.pem (from env CONSUL_CACERT) did not sign Consul's \
             certificate; set CONSUL_CACERT (or consul_cacert in ~/.duncan.yml) to the PEM file of \
             the CA that did"
        );
    }

    #[test]
    fn name_mismatch_points_at_the_address_setting_and_its_source() {
        let config = config(&[MARATHON, ("CONSUL_HTTP_ADDR", "https://10.0.0.5:8501")]);
        let failure =
            refused_certificate("top", &Service::consul(&config), &Refusal::NotValidForName);
        assert_eq!(
            hint(&failure),
            "use the host name Consul's certificate is issued for in its address (from env \
             CONSUL_HTTP_ADDR; set consul_url or consul_host in ~/.duncan.yml, or CONSUL_HTTP_ADDR)"
        );
        assert!(!hint(&failure).contains("CACERT"), "{}", hint(&failure));
    }

    #[test]
    fn expired_and_not_yet_valid_point_at_renewal_and_the_clock() {
        let config = config(&[MARATHON]);
        for refusal in [Refusal::Expired, Refusal::NotYetValid] {
            let failure = refused_certificate("top", &Service::marathon(&config), &refusal);
            assert!(hint(&failure).contains("renewing"), "{}", hint(&failure));
            assert!(
                hint(&failure).contains("this computer's clock"),
                "{}",
                hint(&failure)
            );
            assert!(!hint(&failure).contains("CACERT"), "{}", hint(&failure));
        }
    }

    #[test]
    fn certificate_hints_never_say_to_check_that_the_service_answers() {
        let config = config(&[MARATHON]);
        let refusals = [
            Refusal::UnknownIssuer,
            Refusal::NotValidForName,
            Refusal::Expired,
            Refusal::NotYetValid,
            Refusal::Revoked,
            Refusal::Other("invalid certificate: bad signature".into()),
        ];
        for refusal in refusals {
            for service in [Service::consul(&config), Service::marathon(&config)] {
                let failure = refused_certificate("top", &service, &refusal);
                assert!(!hint(&failure).contains("answers"), "{}", hint(&failure));
                assert!(
                    failure.message.contains("TLS certificate"),
                    "{}",
                    failure.message
                );
            }
        }
    }
}
