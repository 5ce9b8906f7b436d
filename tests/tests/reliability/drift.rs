//! `duncan status` after Marathon and Consul parted ways (a deploy killed half-way, a change
//! made by hand): the drift is shown, with what to do about it.

use crate::support::{Home, Sims, app_env, report, seed_group};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_drift_and_how_to_repair_it() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    // Marathon moves to v1 behind duncan's back: Consul still records v0.
    reqwest::Client::new()
        .put(format!("{}/v2/groups/shop-stage", sims.marathon.url()))
        .json(&seed_group(&target, "v1", &["web", "worker"]))
        .send()
        .await
        .expect("marathon-sim answers")
        .error_for_status()
        .expect("group updated");
    sims.wait_idle().await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let before = sims.consul.control().kv_snapshot();
    let run = home
        .run(&["status", "-a", "shop", "-e", "stage"], &[])
        .await;
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("drift"), "the drift is shown: {run:?}");
    let all = run.all();
    assert!(
        all.contains("duncan deploy -a shop -e stage -t v0") && all.contains("v1"),
        "status says how to repair: deploy the recorded tag again, or record the running one: \
         {run:?}"
    );
    assert_eq!(
        sims.consul.control().kv_snapshot(),
        before,
        "status only reads"
    );
    report(
        "duncan status after drift",
        1,
        "pass",
        "drift shown with the commands that repair it; nothing written",
    );
}
