//! Consul's three token refusals told apart — no token set, a token Consul does not know, a
//! token without the right — each saying whether the command reads or writes, and where the
//! token came from, never the token. Marathon's 401/403 say what was sent, and from where.

use consul_sim::{Access, Rule, SimOptions};

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, deploy_args, run_async};

/// Consul with ACLs (default deny): `reader` may read dogfood's keys, `nobody` nothing.
async fn acl_sims() -> Sims {
    let sims = Sims::start_with(
        SimOptions::default()
            .acl_master_token("root")
            .token(
                "reader-secret",
                vec![
                    Rule::new("env/dogfood/", Access::Read),
                    Rule::new("deploys/dogfood/", Access::Read),
                ],
            )
            .token("nobody-secret", vec![]),
        marathon_options(),
    )
    .await;
    sims.put_key("env/dogfood/stage/A", "1").await;
    sims
}

/// A home whose configuration sets `token` (none when `None`).
fn home_with(sims: &Sims, token: Option<&str>) -> Home {
    let token = token.map_or_else(String::new, |t| format!("consul_token: {t}\n"));
    Home::with_config(&format!("{}{token}", sims.config()))
}

struct Refusal {
    stderr: String,
}

async fn refused(home: &Home, args: &[&str]) -> Refusal {
    let mut cmd = home.duncan();
    cmd.args(args);
    let out = run_async(cmd).await;
    let shown = args.join(" ");
    assert_eq!(out.code, 7, "{shown}: {}", out.stderr);
    for secret in ["reader-secret", "nobody-secret", "no-such-secret"] {
        assert!(!out.stderr.contains(secret), "{shown}: {}", out.stderr);
        assert!(!out.stdout.contains(secret), "{shown}: {}", out.stdout);
    }
    Refusal { stderr: out.stderr }
}

/// Runs `args` with no token, an unknown one and `lacking` (a known token without the right),
/// and checks each message names its case and `need` (`read keys under …`).
async fn three_cases(sims: &Sims, args: &[&str], lacking: &str, need: &str) {
    let shown = args.join(" ");
    let none = refused(&home_with(sims, None), args).await;
    assert!(
        none.stderr.contains(&format!(
            "no Consul token is set, and Consul's anonymous token may not {need}"
        )),
        "{shown}: {}",
        none.stderr
    );
    assert!(
        none.stderr.contains("set CONSUL_HTTP_TOKEN"),
        "{shown}: {}",
        none.stderr
    );
    let unknown = refused(&home_with(sims, Some("no-such-secret")), args).await;
    assert!(
        unknown
            .stderr
            .contains("Consul does not know the ACL token duncan sent (from file: consul_token)"),
        "{shown}: {}",
        unknown.stderr
    );
    let denied = refused(&home_with(sims, Some(lacking)), args).await;
    assert!(
        denied.stderr.contains(&format!(
            "the Consul token (from file: consul_token) may not {need}"
        )),
        "{shown}: {}",
        denied.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_get_tells_the_three_token_cases_apart_as_a_read() {
    let sims = acl_sims().await;
    let need = "read keys under env/dogfood/stage/";
    let args = ["env", "get", "-a", "dogfood", "-e", "stage"];
    three_cases(&sims, &args, "nobody-secret", need).await;
    let args = ["env", "get", "A", "-a", "dogfood", "-e", "stage"];
    three_cases(&sims, &args, "nobody-secret", need).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_set_tells_the_three_token_cases_apart_as_a_write() {
    let sims = acl_sims().await;
    let args = ["env", "set", "A=2", "-a", "dogfood", "-e", "stage", "-y"];
    three_cases(
        &sims,
        &args,
        "reader-secret",
        "write keys under env/dogfood/stage/",
    )
    .await;
    assert_eq!(sims.key("env/dogfood/stage/A").as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_status_tells_the_three_token_cases_apart_as_a_read() {
    let sims = acl_sims().await;
    let args = ["lock", "status", "-a", "dogfood", "-e", "stage"];
    three_cases(
        &sims,
        &args,
        "nobody-secret",
        "read keys under deploys/dogfood/stage/",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_tells_the_three_token_cases_apart_instead_of_saying_no_releases() {
    let sims = acl_sims().await;
    let args = ["history", "-a", "dogfood", "-e", "stage"];
    three_cases(
        &sims,
        &args,
        "nobody-secret",
        "read keys under deploys/dogfood/stage/",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_the_three_token_cases_apart_instead_of_saying_not_recorded() {
    let sims = acl_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let args = ["status", "-a", "dogfood", "-e", "stage"];
    three_cases(
        &sims,
        &args,
        "nobody-secret",
        "read keys under deploys/dogfood/stage/",
    )
    .await;
    // A token that may read sees the record.
    let home = home_with(&sims, Some("reader-secret"));
    let mut cmd = home.duncan();
    cmd.args(args);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("in sync"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_release_tells_the_three_token_cases_apart_as_a_write() {
    let sims = acl_sims().await;
    sims.hold_lock("dogfood", "stage", "alice").await;
    let args = ["lock", "release", "-a", "dogfood", "-e", "stage", "-y"];
    // No token and an unknown one cannot even read the lock: they are refused as a read.
    let none = refused(&home_with(&sims, None), &args).await;
    assert!(
        none.stderr.contains("no Consul token is set"),
        "{}",
        none.stderr
    );
    let unknown = refused(&home_with(&sims, Some("no-such-secret")), &args).await;
    assert!(
        unknown
            .stderr
            .contains("Consul does not know the ACL token"),
        "{}",
        unknown.stderr
    );
    // A reader sees the lock and is refused the release.
    let denied = refused(&home_with(&sims, Some("reader-secret")), &args).await;
    assert!(
        denied.stderr.contains(
            "the Consul token (from file: consul_token) may not write keys under deploys/dogfood/stage/"
        ),
        "{}",
        denied.stderr
    );
    assert!(sims.lock_session("dogfood", "stage").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_tells_the_three_token_cases_apart_as_a_write() {
    let sims = acl_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    three_cases(
        &sims,
        &deploy_args("v2"),
        "reader-secret",
        "write keys under deploys/dogfood/stage/",
    )
    .await;
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_search_that_can_read_no_app_is_not_allowed() {
    let sims = acl_sims().await;
    let home = home_with(&sims, Some("nobody-secret"));
    let out = refused(&home, &["config", "search", "A"]).await;
    assert!(
        out.stderr
            .contains("could not search any app: the Consul token"),
        "{}",
        out.stderr
    );
}

/// Marathon's refusals say whether a token was sent, and from which setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_refusal_says_whether_a_token_was_sent_and_from_where() {
    let sims = Sims::start_with(
        SimOptions::default(),
        marathon_options().token("right-secret"),
    )
    .await;
    let args = ["status", "-a", "dogfood", "-e", "stage"];
    let home = Home::with_config(&sims.config());
    let none = refused(&home, &args).await;
    assert!(
        none.stderr
            .contains("duncan sent no credentials: no Marathon token is set"),
        "{}",
        none.stderr
    );
    let mut cmd = home.duncan();
    cmd.args(args).env("DCOS_ACS_TOKEN", "wrong-secret");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("duncan sent the token from env DCOS_ACS_TOKEN"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-secret"), "{}", out.stderr);
    let home = Home::with_config(&format!("{}marathon_token: wrong-secret\n", sims.config()));
    let out = refused(&home, &args).await;
    assert!(
        out.stderr
            .contains("duncan sent the token from file: marathon_token"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-secret"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_refusal_of_the_password_in_its_address_names_the_address_setting_not_the_password()
 {
    let sims = Sims::start_with(
        SimOptions::default(),
        marathon_options().basic_auth("admin", "right-password"),
    )
    .await;
    let url = sims
        .marathon_url()
        .replacen("http://", "http://admin:wrong-password@", 1);
    let home = Home::with_config(&format!(
        "consul_url: {}\nmarathon_url: {url}\ndocker_repo_prefix: quay.io/myorg\n",
        sims.consul_url()
    ));
    let out = refused(&home, &["status", "-a", "dogfood", "-e", "stage"]).await;
    assert!(
        out.stderr.contains(
            "duncan sent the user and password in Marathon's address (from file: marathon_url)"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-password"), "{}", out.stderr);
}
