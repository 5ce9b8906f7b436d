//! Settings and logins where DC/OS and Docker users already keep them: the dcos CLI's attached
//! cluster, a DC/OS service account (logged in at marathon-sim's login endpoint, which verifies
//! the signed login token), and Docker's credential helpers (a helper program the test writes).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, run_async};

/// A fresh RSA key pair from `openssl`: (private key PEM as DC/OS writes it, public key PEM).
fn rsa_key_pair() -> (String, String) {
    let private = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .stderr(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(private.status.success(), "openssl made a key");
    let mut public = Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    public
        .stdin
        .take()
        .expect("stdin")
        .write_all(&private.stdout)
        .expect("key written");
    let public = public.wait_with_output().expect("openssl ends");
    (
        String::from_utf8(private.stdout).expect("PEM"),
        String::from_utf8(public.stdout).expect("PEM"),
    )
}

/// `~/.dcos/clusters/{id}/dcos.toml`, attached, as `dcos cluster setup` leaves it.
fn write_attached_cluster(home: &Path, id: &str, toml: &str) {
    let cluster = home.join(".dcos").join("clusters").join(id);
    std::fs::create_dir_all(&cluster).expect("cluster dir");
    std::fs::write(cluster.join("dcos.toml"), toml).expect("dcos.toml");
    std::fs::write(cluster.join("attached"), "").expect("attached");
}

/// The statuses Marathon's API (not the login endpoint) answered, in order.
fn marathon_statuses(sims: &Sims) -> Vec<u16> {
    sims.marathon
        .control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/service/marathon/v2"))
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn dcos_cli_attached_cluster_gives_marathon_and_its_token() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().token("acs-token-from-dcos"),
    )
    .await;
    let home = Home::with_config(&format!(
        "consul_url: {}\napps: [dogfood]\n",
        sims.consul_url()
    ));
    write_attached_cluster(
        home.path(),
        "7c3a-cluster-id",
        &format!(
            "[core]\ndcos_url = \"{}\"\ndcos_acs_token = \"acs-token-from-dcos\"\n\
             ssl_verify = \"true\"\n[cluster]\nname = \"shop\"\n",
            sims.marathon_url()
        ),
    );

    let mut show = home.duncan();
    show.args(["config", "show"]);
    let shown = run_async(show).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let row = |name: &str| {
        shown
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {}", shown.stdout))
            .to_owned()
    };
    assert!(
        row("marathon_url").contains("/service/marathon")
            && row("marathon_url").contains("dcos CLI: core.dcos_url in"),
        "{}",
        shown.stdout
    );
    assert!(
        row("marathon_token").contains("dcos CLI: core.dcos_acs_token"),
        "{}",
        shown.stdout
    );
    assert!(
        !shown.stdout.contains("acs-token-from-dcos"),
        "{}",
        shown.stdout
    );

    let mut status = home.duncan();
    status.args(["status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;
    // Marathon was reached with the token: it says the group does not exist.
    assert!(
        run.stderr.contains("Marathon has no group /dogfood-stage"),
        "{}",
        run.stderr
    );
    let statuses = marathon_statuses(&sims);
    assert!(
        !statuses.is_empty() && !statuses.contains(&401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn service_account_logs_in_renews_expired_tokens_and_never_shows_its_key() {
    let (private_key, public_key) = rsa_key_pair();
    // Each token serves one request, so every further request renews it by logging in again.
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options()
            .login_public_key(public_key)
            .login_token_uses(1),
    )
    .await;
    let home = Home::with_config(&format!(
        "consul_url: {}\nmarathon_url: {}/service/marathon\napps: [dogfood]\n",
        sims.consul_url(),
        sims.marathon_url()
    ));
    let credential = home.path().join("sa.json");
    std::fs::write(
        &credential,
        serde_json::json!({
            "scheme": "RS256",
            "uid": "ci-deployer",
            "private_key": private_key,
            "login_endpoint": format!("{}/acs/api/v1/auth/login", sims.marathon_url()),
        })
        .to_string(),
    )
    .expect("credential written");
    let variable = format!("file://{}", credential.display());

    let mut show = home.duncan();
    show.env("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &variable)
        .args(["config", "show"]);
    let shown = run_async(show).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l.contains("marathon_service_account")
                && l.contains("sa.json")
                && l.contains("env DCOS_SERVICE_ACCOUNT_CREDENTIAL")),
        "{}",
        shown.stdout
    );

    let mut status = home.duncan();
    status
        .env("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &variable)
        .args(["-vv", "status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;
    assert!(
        run.stderr.contains("Marathon has no group /dogfood-stage"),
        "{}",
        run.stderr
    );
    assert!(sims.marathon.control().logins() >= 1);
    let statuses = marathon_statuses(&sims);
    assert_eq!(statuses.last(), Some(&404), "{statuses:?}");

    let key_line = private_key.lines().nth(1).expect("a key line");
    for text in [&shown.stdout, &shown.stderr, &run.stdout, &run.stderr] {
        assert!(
            !text.contains(key_line),
            "the private key was shown: {text}"
        );
        assert!(!text.contains("sim-token-"), "a token was shown: {text}");
    }
}

#[tokio::test]
async fn unreadable_service_account_credential_says_which_file_and_where_it_was_named() {
    let home = Home::with_config(
        "consul_url: http://127.0.0.1:9\nmarathon_url: http://127.0.0.1:9\napps: [dogfood]\n",
    );
    let credential = home.path().join("sa.json");
    std::fs::write(
        &credential,
        r#"{"uid":"ci","private_key":"s3cret-garbage","login_endpoint":"http://127.0.0.1:9/"}"#,
    )
    .expect("written");

    let mut status = home.duncan();
    status
        .env("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &credential)
        .args(["status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sa.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("DCOS_SERVICE_ACCOUNT_CREDENTIAL"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret-garbage"), "{}", run.stderr);
}
