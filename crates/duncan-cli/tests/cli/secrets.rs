//! Passwords written in a service's URL (`http://admin:PW@host`) are never shown: not by
//! `config show`, not in "cannot reach …" errors, not in the refusal of a Consul address that
//! holds credentials.

use crate::sims::Sims;
use crate::util::{Home, Run, deploy_args, run_async};

const PASSWORD: &str = "Pw0rd-9f3c";

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn assert_hidden(what: &str, out: &Run, host: &str) {
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.contains(PASSWORD),
            "{what}: password on {name}: {text}"
        );
    }
    assert!(
        out.stdout.contains(host) || out.stderr.contains(host),
        "{what}: the host is named: {} {}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn config_show_hides_passwords_in_service_urls() {
    let home = Home::new();
    for json in [false, true] {
        let mut cmd = home.duncan();
        cmd.args(["config", "show"])
            .env(
                "MARATHON_URL",
                format!("http://admin:{PASSWORD}@marathon.example:8080"),
            )
            .env(
                "CONSUL_HTTP_ADDR",
                format!("http://ops:{PASSWORD}@consul.example:8500"),
            );
        if json {
            cmd.arg("--json");
        }
        let out = crate::util::run(cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_hidden("config show", &out, "marathon.example:8080");
        assert!(
            out.stdout
                .contains("http://admin:***@marathon.example:8080"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("http://ops:***@consul.example:8500"),
            "{}",
            out.stdout
        );
        if json {
            let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
            assert_eq!(doc["settings"][0]["name"], "marathon_url");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_marathon_error_hides_the_password_of_its_url() {
    let sims = Sims::start().await;
    let port = closed_port();
    let host = format!("127.0.0.1:{port}");
    let home = Home::with_config(&format!(
        "consul_url: {}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n",
        sims.consul_url()
    ));
    let commands: [&[&str]; 2] = [
        &deploy_args("v2"),
        &["status", "-a", "dogfood", "-e", "stage"],
    ];
    for args in commands {
        let mut cmd = home.duncan();
        cmd.args(args)
            .env("MARATHON_URL", format!("http://admin:{PASSWORD}@{host}"));
        let out = run_async(cmd).await;
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("cannot reach Marathon at"),
            "{args:?}: {}",
            out.stderr
        );
        assert_hidden(&format!("{args:?}"), &out, &host);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_consul_address_with_credentials_hides_the_password() {
    let sims = Sims::start().await;
    let host = sims
        .consul_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let home = Home::with_config(&format!(
        "marathon_url: {}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n",
        sims.marathon_url()
    ));
    sims.consul.control().clear_requests();
    for args in [
        &deploy_args("v2")[..],
        &["history", "-a", "dogfood", "-e", "stage"],
    ] {
        let mut cmd = home.duncan();
        cmd.args(args)
            .env("CONSUL_HTTP_ADDR", format!("http://ops:{PASSWORD}@{host}"));
        let out = run_async(cmd).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("credentials do not belong in the address"),
            "{args:?}: {}",
            out.stderr
        );
        assert_hidden(&format!("{args:?}"), &out, &host);
    }
    assert_eq!(sims.consul.control().request_count(), 0);
}
