//! Consul's settings: consul-client's reading of Consul's own variables
//! ([`consul_client::Config::from_lookup`], the one place that says what `CONSUL_*` mean),
//! with duncan's flag above it and the file's keys below it.
//!
//! Each setting is a precedence table: the first row with a value wins, and its row names the
//! source `config show` prints.

use std::path::PathBuf;

use consul_client::{HttpAuth, env as var};

use super::file::FileKeys;
use super::resolve::{trimmed, with_scheme};
use super::{DEFAULT_CONSUL_URL, Overrides, Secret, Setting, Source};
use crate::failure::Failure;

/// Every Consul setting, resolved.
pub(super) struct ConsulSettings {
    pub url: Setting<String>,
    pub token: Setting<Option<Secret>>,
    pub http_auth: Setting<Option<HttpAuth>>,
    pub cacert: Setting<Option<PathBuf>>,
    pub capath: Setting<Option<PathBuf>>,
    pub client_cert: Setting<Option<PathBuf>>,
    pub client_key: Setting<Option<PathBuf>>,
    pub tls_server_name: Setting<Option<String>>,
    pub ssl_verify: Setting<bool>,
    pub namespace: Setting<Option<String>>,
    pub partition: Setting<Option<String>>,
}

/// The first row with a value, with its source; `fallback` when no row has one.
pub(super) fn first<T>(
    rows: impl IntoIterator<Item = (Source, Option<T>)>,
    fallback: Setting<T>,
) -> Setting<T> {
    rows.into_iter()
        .find_map(|(source, value)| value.map(|v| Setting::new(v, source)))
        .unwrap_or(fallback)
}

/// An optional setting: the first row with a value, else unset.
fn optional<T>(rows: impl IntoIterator<Item = (Source, Option<T>)>) -> Setting<Option<T>> {
    first(
        rows.into_iter().map(|(source, v)| (source, v.map(Some))),
        Setting::new(None, Source::Unset),
    )
}

/// Where a token comes from, read only once its row has won.
enum Token {
    Value(String),
    File(PathBuf),
}

fn read_token(token: Token, source: &Source) -> Result<Secret, Failure> {
    match token {
        Token::Value(t) => Ok(Secret::new(t)),
        Token::File(file) => std::fs::read_to_string(&file)
            .map(|t| Secret::new(t.trim().to_owned()))
            .map_err(|e| {
                let named = match source {
                    Source::Env(name) | Source::File(name) | Source::Flag(name) => *name,
                    Source::DcosCli { key, .. } => *key,
                    Source::Default | Source::Unset => "the configuration",
                };
                Failure::usage(format!(
                    "cannot read the Consul token file named by {named}: {e}"
                ))
                .hint("check the path, or set the token with CONSUL_HTTP_TOKEN")
            }),
    }
}

/// consul-client's refusal of a `CONSUL_*` variable, said as a usage error naming it.
fn refused_variable(e: &consul_client::ConfigError) -> Failure {
    Failure::usage(format!("Consul's environment variables: {e}")).hint(
        "fix or unset the variable; booleans are true or false (also 1/0, t/f), as Consul reads \
         them",
    )
}

/// `CONSUL_HTTP_ADDR` as consul-client reads it (with `CONSUL_HTTP_SSL`). An address it
/// refuses is kept as written, so that `config show` can show it (redacted) and the commands
/// that need Consul refuse it naming its source.
fn env_address(env: &dyn Fn(&str) -> Option<String>, https: bool) -> Option<String> {
    let addr = env(var::HTTP_ADDR)?;
    let only_address = |name: &str| {
        if name == var::HTTP_ADDR || name == var::HTTP_SSL {
            env(name)
        } else {
            None
        }
    };
    Some(match consul_client::Config::from_lookup(only_address) {
        Ok(read) => read.shown_address(),
        Err(_) => with_scheme(&addr, if https { "https" } else { "http" }),
    })
}

/// Resolves Consul's settings: `--consul-url` > Consul's variables (as consul-client reads
/// them) > `DUNCAN_CONSUL_URL` > the file's keys > the defaults.
pub(super) fn resolve(
    keys: &FileKeys,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConsulSettings, Failure> {
    let without_address = |name: &str| {
        if name == var::HTTP_ADDR {
            None
        } else {
            env(name)
        }
    };
    let consul =
        consul_client::Config::from_lookup(without_address).map_err(|e| refused_variable(&e))?;
    let set = |name: &str| env(name).is_some();
    let path = |value: &Option<String>| trimmed(value).map(PathBuf::from);

    // Without CONSUL_HTTP_ADDR, the client's address is Consul's default, which
    // CONSUL_HTTP_SSL makes https.
    let https = consul.address().scheme() == "https";
    let default_url = if https {
        Setting::new(consul.shown_address(), Source::Env(var::HTTP_SSL))
    } else {
        Setting::new(DEFAULT_CONSUL_URL.to_owned(), Source::Default)
    };
    let url = first(
        [
            (
                Source::Flag("--consul-url"),
                flags.consul_url.as_deref().map(|u| with_scheme(u, "http")),
            ),
            (Source::Env(var::HTTP_ADDR), env_address(env, https)),
            (
                Source::Env("DUNCAN_CONSUL_URL"),
                env("DUNCAN_CONSUL_URL").map(|u| with_scheme(&u, "http")),
            ),
            (
                Source::File("consul_url"),
                trimmed(&keys.consul_url).map(|u| with_scheme(&u, "http")),
            ),
            // The Go tool always spoke https to consul_host.
            (
                Source::File("consul_host"),
                trimmed(&keys.consul_host).map(|h| with_scheme(&h, "https")),
            ),
        ],
        default_url,
    );

    // The token file wins over the token, as in Consul's own CLI.
    let token = optional([
        (
            Source::Env(var::HTTP_TOKEN_FILE),
            consul.token_file().map(|f| Token::File(f.to_path_buf())),
        ),
        (
            Source::Env(var::HTTP_TOKEN),
            consul.token().map(|t| Token::Value(t.to_owned())),
        ),
        (
            Source::File("consul_token"),
            trimmed(&keys.consul_token).map(Token::Value),
        ),
        (
            Source::File("consul_token_file"),
            path(&keys.consul_token_file).map(Token::File),
        ),
    ]);
    let token = match token.value {
        Some(t) => Setting::new(Some(read_token(t, &token.source)?), token.source),
        None => Setting::new(None, token.source),
    };

    let http_auth = optional([
        (Source::Env(var::HTTP_AUTH), consul.http_auth().cloned()),
        (
            Source::File("consul_http_auth"),
            trimmed(&keys.consul_http_auth).map(|a| HttpAuth::parse(&a)),
        ),
    ]);
    let cacert = optional([
        (
            Source::Env(var::CACERT),
            consul.ca_cert().map(|p| p.to_path_buf()),
        ),
        (Source::File("consul_cacert"), path(&keys.consul_cacert)),
    ]);
    let capath = optional([
        (
            Source::Env(var::CAPATH),
            consul.ca_path().map(|p| p.to_path_buf()),
        ),
        (Source::File("consul_capath"), path(&keys.consul_capath)),
    ]);
    let pair = consul.client_certificate();
    let client_cert = optional([
        (
            Source::Env(var::CLIENT_CERT),
            pair.map(|(cert, _)| cert.to_path_buf()),
        ),
        (
            Source::File("consul_client_cert"),
            path(&keys.consul_client_cert),
        ),
    ]);
    let client_key = optional([
        (
            Source::Env(var::CLIENT_KEY),
            pair.map(|(_, key)| key.to_path_buf()),
        ),
        (
            Source::File("consul_client_key"),
            path(&keys.consul_client_key),
        ),
    ]);
    let tls_server_name = optional([
        (
            Source::Env(var::TLS_SERVER_NAME),
            consul.tls_server_name().map(str::to_owned),
        ),
        (
            Source::File("consul_tls_server_name"),
            trimmed(&keys.consul_tls_server_name),
        ),
    ]);
    let ssl_verify = first(
        [
            (
                Source::Env(var::HTTP_SSL_VERIFY),
                set(var::HTTP_SSL_VERIFY).then(|| consul.tls_verify()),
            ),
            (Source::File("consul_ssl_verify"), keys.consul_ssl_verify),
        ],
        Setting::new(true, Source::Default),
    );
    let namespace = optional([
        (
            Source::Env(var::NAMESPACE),
            consul.namespace().map(str::to_owned),
        ),
        (
            Source::File("consul_namespace"),
            trimmed(&keys.consul_namespace),
        ),
    ]);
    let partition = optional([
        (
            Source::Env(var::PARTITION),
            consul.partition().map(str::to_owned),
        ),
        (
            Source::File("consul_partition"),
            trimmed(&keys.consul_partition),
        ),
    ]);
    Ok(ConsulSettings {
        url,
        token,
        http_auth,
        cacert,
        capath,
        client_cert,
        client_key,
        tls_server_name,
        ssl_verify,
        namespace,
        partition,
    })
}
