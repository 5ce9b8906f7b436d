//! `cargo xtask it`: the integration suite (`duncan-tests`' `it` test binary), against a real
//! Consul / Marathon when given, against the simulators otherwise.
//!
//! A real service comes from `--consul-addr URL` / `--marathon-url URL`, or else from
//! `CONSUL_HTTP_ADDR` / `MARATHON_URL` (or `DCOS_URL`), and reaches the tests as
//! `DUNCAN_IT_CONSUL_ADDR` / `DUNCAN_IT_MARATHON_URL`. Tokens stay in the environment the
//! clients read (`CONSUL_HTTP_TOKEN`, `DCOS_ACS_TOKEN`, `MARATHON_TOKEN`): they are never
//! flags, never in a URL and never printed. The tests' own safety (a unique prefix per test,
//! exact cleanup) lives in `duncan_tests::it_scope`; xtask uses only its address checks
//! (`duncan_tests::address`).

use std::process::Command;

use anyhow::{Context as _, Result, bail};
use duncan_tests::address::{
    CONSUL_ADDR_VAR, MARATHON_URL_VAR, address_has_credentials, display_address,
};

use crate::{cargo, project_root};

const USAGE: &str = "\
usage: cargo xtask it [--consul-addr URL] [--marathon-url URL] [-- NEXTEST-ARGS…]

Runs the integration suite. A service given by flag, or by CONSUL_HTTP_ADDR / MARATHON_URL
(or DCOS_URL), is the real one; the others are simulated in-process. Tokens come only from
CONSUL_HTTP_TOKEN (or CONSUL_HTTP_TOKEN_FILE) and DCOS_ACS_TOKEN / MARATHON_TOKEN. Every test
works under its own `duncan-it-<16 hex>` prefix, with Marathon apps of 0 instances, and
removes exactly what it created.
";

/// What the command line and the environment asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    consul: Option<String>,
    marathon: Option<String>,
    nextest: Vec<String>,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let Some(options) = parse(args, env)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let consul_mode = describe(
        "Consul",
        options.consul.as_deref(),
        ["CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE"]
            .iter()
            .any(|v| env(v).is_some_and(|t| !t.is_empty())),
        "consul-sim",
    );
    let marathon_mode = describe(
        "Marathon",
        options.marathon.as_deref(),
        ["DCOS_ACS_TOKEN", "MARATHON_TOKEN"]
            .iter()
            .any(|v| env(v).is_some_and(|t| !t.is_empty())),
        "marathon-sim",
    );
    eprintln!("xtask it: {consul_mode}");
    eprintln!("xtask it: {marathon_mode}");

    let cargo = cargo();
    let mut command = Command::new(&cargo);
    command
        .args(["nextest", "run", "-p", "duncan-tests", "--test", "it"])
        .args(&options.nextest)
        .current_dir(project_root());
    // Set or cleared explicitly: a variable left over in the shell must not pick the mode.
    for (var, value) in [
        (CONSUL_ADDR_VAR, &options.consul),
        (MARATHON_URL_VAR, &options.marathon),
    ] {
        match value {
            Some(v) => command.env(var, v),
            None => command.env_remove(var),
        };
    }
    eprintln!(
        "$ {cargo} nextest run -p duncan-tests --test it {}",
        options.nextest.join(" ")
    );
    let status = command
        .status()
        .with_context(|| format!("could not start `{cargo} nextest`"))?;
    if !status.success() {
        bail!("the integration suite failed ({status}) against {consul_mode}; {marathon_mode}");
    }
    eprintln!("xtask it: the integration suite passed against {consul_mode}; {marathon_mode}");
    Ok(())
}

/// One line for a service: real (address without secrets, whether a token is set) or simulated.
fn describe(service: &str, real: Option<&str>, token: bool, sim: &str) -> String {
    match real {
        Some(address) => format!(
            "{service}: real, at {} ({})",
            display_address(address),
            if token { "token set" } else { "no token" }
        ),
        None => format!("{service}: {sim}, in-process, one per test"),
    }
}

/// Reads the flags, falling back to the environment. `None` means help was asked for.
fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Option<Options>> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut consul = None;
    let mut marathon = None;
    let mut nextest = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<String> {
            let v = inline
                .clone()
                .or_else(|| rest.next().cloned())
                .with_context(|| format!("`{flag}` needs a value\n\n{USAGE}"))?;
            if v.trim().is_empty() {
                bail!("`{flag}` needs a non-empty value");
            }
            Ok(v)
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--consul-addr" => consul = Some(value(flag)?),
            "--marathon-url" => marathon = Some(value(flag)?),
            "--" => {
                nextest.extend(rest.by_ref().cloned());
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let consul = consul.or_else(|| get("CONSUL_HTTP_ADDR"));
    let marathon = marathon.or_else(|| get("MARATHON_URL")).or_else(|| {
        get("DCOS_URL").map(|dcos| format!("{}/service/marathon", dcos.trim_end_matches('/')))
    });
    for (what, address) in [("Consul", &consul), ("Marathon", &marathon)] {
        if address.as_deref().is_some_and(address_has_credentials) {
            bail!(
                "the {what} address has credentials in it; pass them in CONSUL_HTTP_TOKEN or \
                 DCOS_ACS_TOKEN / MARATHON_TOKEN instead, so they never travel in a URL"
            );
        }
    }
    Ok(Some(Options {
        consul,
        marathon,
        nextest,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn no_flags_and_no_environment_means_the_simulators() {
        let options = parse(&[], no_env).ok().flatten();
        assert_eq!(
            options,
            Some(Options {
                consul: None,
                marathon: None,
                nextest: Vec::new()
            })
        );
    }

    #[test]
    fn flags_win_over_the_environment_and_dcos_url_names_marathon() {
        let env = |name: &str| match name {
            "CONSUL_HTTP_ADDR" => Some("consul.env:8500".to_owned()),
            "DCOS_URL" => Some("https://dcos.example/".to_owned()),
            _ => None,
        };
        let options = parse(&args(&["--consul-addr=http://consul.flag:8500"]), env)
            .ok()
            .flatten();
        assert_eq!(
            options.as_ref().and_then(|o| o.consul.as_deref()),
            Some("http://consul.flag:8500")
        );
        assert_eq!(
            options.as_ref().and_then(|o| o.marathon.as_deref()),
            Some("https://dcos.example/service/marathon")
        );
    }

    #[test]
    fn arguments_after_double_dash_go_to_nextest() {
        let options = parse(
            &args(&["--marathon-url", "http://m:8080", "--", "--no-capture"]),
            no_env,
        )
        .ok()
        .flatten();
        assert_eq!(
            options.map(|o| (o.marathon, o.nextest)),
            Some((Some("http://m:8080".to_owned()), args(&["--no-capture"])))
        );
    }

    #[test]
    fn credentials_in_an_address_are_refused_without_echoing_them() {
        let refused = parse(
            &args(&["--consul-addr", "https://ops:hunter2@c:8501"]),
            no_env,
        );
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("credentials"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn unknown_flags_and_missing_values_are_errors() {
        assert!(parse(&args(&["--consul"]), no_env).is_err());
        assert!(parse(&args(&["--consul-addr"]), no_env).is_err());
        assert!(matches!(parse(&args(&["--help"]), no_env), Ok(None)));
    }

    #[test]
    fn the_mode_line_shows_no_secret() {
        let line = describe(
            "Consul",
            Some("https://ops:hunter2@consul.example:8501/?token=abc"),
            true,
            "consul-sim",
        );
        assert_eq!(
            line,
            "Consul: real, at https://consul.example:8501/ (token set)"
        );
    }
}
