//! The `consul-sim` binary: serves the simulated Consul until SIGINT or SIGTERM.
//!
//! ```text
//! consul-sim [--listen ADDR] [--node-name NAME] [--acl-master-token TOKEN] [--policy-file FILE]
//!            [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]
//! ```
//!
//! The first line on stdout is `listening on http://ADDR` (`https://` with `--tls-cert`; with the
//! real port when 0 was asked).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use consul_sim::{ConsulSim, PolicyFile, SimOptions, TlsFiles};

const USAGE: &str = "usage: consul-sim [--listen ADDR] [--node-name NAME] [--acl-master-token TOKEN] [--policy-file FILE]
                  [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]

  --listen ADDR              address to listen on (default 127.0.0.1:8500; port 0 picks one)
  --node-name NAME           the node's name in agent/self and sessions (default consul-sim)
  --acl-master-token TOKEN   turn ACLs on; TOKEN may do anything
  --policy-file FILE         JSON tokens and key_prefix rules:
                             {\"tokens\":[{\"secret\":\"…\",\"rules\":[{\"prefix\":\"deploys/a/\",\"access\":\"write\"}]}]}
  --tls-cert PEM             serve HTTPS with this certificate (chain)
  --tls-key PEM              the certificate's private key
  --tls-client-ca PEM        require client certificates signed by this CA (Consul's verify_incoming)";

/// Parsed command line.
struct Args {
    listen: SocketAddr,
    master_token: Option<String>,
    policy_file: Option<PathBuf>,
    node_name: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8500)),
        master_token: None,
        policy_file: None,
        node_name: None,
        tls_cert: None,
        tls_key: None,
        tls_client_ca: None,
    };
    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value` are accepted.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let raw = value("--listen")?;
                parsed.listen = raw.parse().with_context(|| {
                    format!("--listen {raw:?} is not an address like 127.0.0.1:8500")
                })?;
            }
            "--node-name" => parsed.node_name = Some(value("--node-name")?),
            "--acl-master-token" => parsed.master_token = Some(value("--acl-master-token")?),
            "--policy-file" => parsed.policy_file = Some(PathBuf::from(value("--policy-file")?)),
            "--tls-cert" => parsed.tls_cert = Some(PathBuf::from(value("--tls-cert")?)),
            "--tls-key" => parsed.tls_key = Some(PathBuf::from(value("--tls-key")?)),
            "--tls-client-ca" => {
                parsed.tls_client_ca = Some(PathBuf::from(value("--tls-client-ca")?));
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    match (&parsed.tls_cert, &parsed.tls_key) {
        (Some(_), None) | (None, Some(_)) => {
            bail!("--tls-cert and --tls-key go together\n\n{USAGE}")
        }
        (None, None) if parsed.tls_client_ca.is_some() => {
            bail!("--tls-client-ca needs --tls-cert and --tls-key\n\n{USAGE}")
        }
        _ => {}
    }
    Ok(Some(parsed))
}

async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut options = SimOptions::default().listen(args.listen);
    if let Some(token) = args.master_token {
        options = options.acl_master_token(token);
    }
    if let Some(name) = args.node_name {
        options = options.node_name(name);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        let mut files = TlsFiles::new(cert, key);
        if let Some(ca) = args.tls_client_ca {
            files = files.require_client_certificates(ca);
        }
        options = options.tls(files);
    }
    if let Some(path) = args.policy_file {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?;
        let file = PolicyFile::from_json(&text)
            .with_context(|| format!("policy file {}", path.display()))?;
        options = options.policy(file);
    }
    let sim = ConsulSim::start(options)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", sim.url())?;
    out.flush()?;
    drop(out);
    stop_signal().await?;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Option<Args>> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn listen_defaults_to_consul_port() {
        let args = parse(&[]).ok().flatten().map(|a| a.listen.to_string());
        assert_eq!(args.as_deref(), Some("127.0.0.1:8500"));
    }

    #[test]
    fn flags_accept_both_spellings() {
        let args = parse(&["--listen=127.0.0.1:0", "--acl-master-token", "root"])
            .ok()
            .flatten();
        assert_eq!(
            args.map(|a| (a.listen.port(), a.master_token)),
            Some((0, Some("root".to_owned())))
        );
    }

    #[test]
    fn unknown_flag_is_a_usage_error() {
        let err = parse(&["--bogus"]).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("unknown argument") && e.contains("usage:")));
        assert!(parse(&["--listen"]).is_err());
        let named = parse(&["--node-name", "node1"]).ok().flatten();
        assert_eq!(named.and_then(|a| a.node_name).as_deref(), Some("node1"));
        assert!(parse(&["--listen", "nope"]).is_err());
    }

    #[test]
    fn tls_flags_go_together() {
        let both = parse(&[
            "--tls-cert",
            "c.pem",
            "--tls-key=k.pem",
            "--tls-client-ca",
            "ca.pem",
        ])
        .ok()
        .flatten();
        assert_eq!(
            both.and_then(|a| a.tls_client_ca).as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        let alone = parse(&["--tls-cert", "c.pem"]).err().map(|e| e.to_string());
        assert!(alone.is_some_and(|e| e.contains("--tls-cert and --tls-key go together")));
        let ca_only = parse(&["--tls-client-ca", "ca.pem"])
            .err()
            .map(|e| e.to_string());
        assert!(ca_only.is_some_and(|e| e.contains("needs --tls-cert")));
    }
}
