//! Configuration files refused as soon as they are read, before anything is sent: absurd
//! nesting (refused by a quick scan, not after minutes in the YAML parser) and `environments`
//! entries that are not valid environment names.

use crate::sims::Sims;
use crate::util::{Home, Run, deploy_args, run_async};

/// Levels of nesting in the absurd files: the YAML parser alone took most of a minute to
/// refuse the flow form.
const LEVELS: usize = 100_000;

async fn deploy_with(sims: &Sims, home: &Home) -> Run {
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert!(
        sims.marathon.control().requests().is_empty(),
        "nothing is sent to Marathon"
    );
    assert_eq!(
        sims.consul.control().request_count(),
        0,
        "nothing is sent to Consul"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_nested_100000_levels_is_refused_naming_the_line_and_changes_nothing() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.marathon.control().clear_requests();
    sims.consul.control().clear_requests();
    let base = sims.config();
    let base_lines = base.lines().count();
    let flow = format!("deep: {}{}\n", "[".repeat(LEVELS), "]".repeat(LEVELS));
    let block = format!("deep:\n{}x\n", "- ".repeat(LEVELS));
    for (deep, line) in [(flow, base_lines + 1), (block, base_lines + 2)] {
        let home = Home::with_config(&format!("{base}{deep}"));
        let out = deploy_with(&sims, &home).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        let expected = format!(
            "error: configuration file {} is malformed: line {line}, column ",
            home.config_path().display()
        );
        assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
        assert!(
            out.stderr.contains("nested more than 64 levels deep"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_environment_entry_is_refused_when_the_file_is_read() {
    let sims = Sims::start().await;
    let home = Home::with_config(&format!("{}environments: [stage, ../x]\n", sims.config()));
    let out = deploy_with(&sims, &home).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let expected = format!(
        "error: configuration file {}, key `environments`: entry 2: environment name \"../x\" \
         has '.' at position 0, which is not allowed there (allowed: lowercase letters, digits \
         and '-', starting with a letter, not ending with '-', at most 63 characters)\n",
        home.config_path().display()
    );
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);

    // Every command reads the configuration first, `config show` included.
    let mut cmd = home.duncan();
    cmd.args(["config", "show"]);
    let shown = run_async(cmd).await;
    assert_eq!(shown.code, 2, "{}", shown.stderr);
    assert!(shown.stderr.starts_with(&expected), "{}", shown.stderr);
}
