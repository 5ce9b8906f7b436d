//! A deploy whose release was recorded never tells the user that its lock was lost.

use crate::support::{Home, Sims, app_env, deploy_args, report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_release_is_never_announced_as_a_lost_lock() {
    let runs = crate::support::pick(3, 10);
    let mut false_alarms = 0;
    for run_number in 0..runs {
        let sims = Sims::start().await;
        let target = app_env("shop", "stage");
        sims.seed(&target, "v0", &["web"]).await;
        let home = Home::with_config(&sims.config(&["shop"]));
        let tag = format!("v{}", run_number + 1);
        let run = home.run(&deploy_args("shop", "stage", &tag), &[]).await;
        run.assert_no_panic();
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(sims.kv(&target.current_key()), Some(tag));
        if run.stderr.contains("lock was lost") {
            false_alarms += 1;
        }
    }
    let figure =
        format!("{false_alarms} of {runs} successful deploys warned that the lock was lost");
    report(
        "no false lock-loss warning after a recorded release",
        runs,
        if false_alarms == 0 { "pass" } else { "FAIL" },
        &figure,
    );
    assert_eq!(false_alarms, 0, "{figure}");
}
