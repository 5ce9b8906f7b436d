//! Pointed at a server that is not Consul, no command reports what it could not see: `lock
//! status` does not say "free", `history` not "no releases", `env get` not an empty
//! environment. Each fails naming the address and the setting to check.

use crate::sims::Sims;
use crate::util::{Home, run_async};

/// A configuration whose Consul URL is marathon-sim's: an HTTP server answering 404, without
/// Consul's headers, to every `/v1/…` request.
fn not_consul_home(sims: &Sims) -> Home {
    Home::with_config(&format!(
        "consul_url: {marathon}\nmarathon_url: {marathon}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n",
        marathon = sims.marathon_url()
    ))
}

async fn assert_refused_naming_the_address(sims: &Sims, home: &Home, args: &[&str]) {
    assert_refused_because(sims, home, args, "no X-Consul-Index header").await;
}

async fn assert_refused_because(sims: &Sims, home: &Home, args: &[&str], reason: &str) {
    let mut cmd = home.duncan();
    cmd.args(args);
    let out = run_async(cmd).await;
    let args = args.join(" ");
    assert_eq!(out.code, 1, "{args}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{args}: {}", out.stdout);
    let expected = format!(
        "{} does not look like Consul ({reason}",
        sims.marathon_url()
    );
    assert!(out.stderr.contains(&expected), "{args}: {}", out.stderr);
    assert!(
        out.stderr.contains("check CONSUL_HTTP_ADDR / consul_url"),
        "{args}: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("free"), "{args}: {}", out.stderr);
    assert!(
        !out.stderr.contains("no releases"),
        "{args}: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_status_against_a_server_that_is_not_consul_does_not_say_free() {
    let sims = Sims::start().await;
    let home = not_consul_home(&sims);
    assert_refused_naming_the_address(
        &sims,
        &home,
        &["lock", "status", "-a", "dogfood", "-e", "stage"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_against_a_server_that_is_not_consul_does_not_say_no_releases() {
    let sims = Sims::start().await;
    let home = not_consul_home(&sims);
    assert_refused_naming_the_address(&sims, &home, &["history", "-a", "dogfood", "-e", "stage"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_get_against_a_server_that_is_not_consul_is_an_error_not_an_empty_environment() {
    let sims = Sims::start().await;
    let home = not_consul_home(&sims);
    assert_refused_naming_the_address(
        &sims,
        &home,
        &["env", "get", "-a", "dogfood", "-e", "stage"],
    )
    .await;
    assert_refused_naming_the_address(
        &sims,
        &home,
        &["env", "get", "A", "-a", "dogfood", "-e", "stage"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_against_a_server_that_is_not_consul_names_the_address() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = not_consul_home(&sims);
    // status reads the tags in a transaction, which such a server answers with a bare 404.
    let reason = "HTTP 404 to an endpoint every Consul serves";
    assert_refused_because(
        &sims,
        &home,
        &["status", "-a", "dogfood", "-e", "stage"],
        reason,
    )
    .await;
    // Every configured app and environment: said once, not as a table of errors.
    assert_refused_because(&sims, &home, &["status"], reason).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_search_against_a_server_that_is_not_consul_finds_nothing_and_says_why() {
    let sims = Sims::start().await;
    let home = not_consul_home(&sims);
    assert_refused_naming_the_address(&sims, &home, &["config", "search", "A"]).await;
}
