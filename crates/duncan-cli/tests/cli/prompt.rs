//! The deploy prompt on a real terminal: it says what confirms, and a production deploy is
//! confirmed only by typing the environment's name (configurable with `confirm_by_name`).

use crate::interrupt::on_terminal;
use crate::sims::Sims;
use crate::util::Home;

async fn seeded(extra: &str) -> (Sims, Home) {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "production", "v1").await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&format!("{}{extra}", sims.config()));
    (sims, home)
}

fn typed(home: &Home, env: &str, answer: &str) -> (Option<i32>, String) {
    let args = format!("deploy -a dogfood -e {env} -t v2 --skip-image-check");
    tokio::task::block_in_place(|| on_terminal(home, &args, answer))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_is_confirmed_by_its_name_not_by_yes() {
    let (sims, home) = seeded("").await;
    let (code, screen) = typed(&home, "production", "yes\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains(
            "this changes production - type its name (production) to go ahead, anything else \
             aborts:"
        ),
        "{screen}"
    );
    assert!(screen.contains("aborted: nothing was changed"), "{screen}");
    assert_eq!(
        sims.image("/dogfood-production/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );

    let (code, screen) = typed(&home, "production", "production\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("deployed v2"), "{screen}");
    assert_eq!(
        sims.image("/dogfood-production/web").as_deref(),
        Some("quay.io/myorg/dogfood:v2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_by_name_chooses_the_environments_asked_by_name() {
    let (sims, home) = seeded("confirm_by_name: [stage]\n").await;
    let (code, screen) = typed(&home, "stage", "yes\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("type its name (stage)"), "{screen}");
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    // production is no longer listed: `yes` is enough there.
    let (code, screen) = typed(&home, "production", "yes\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("type yes to go ahead"), "{screen}");
    assert!(screen.contains("deployed v2"), "{screen}");
}

#[test]
fn confirm_by_name_defaults_to_production_and_is_shown_with_its_source() {
    let home = Home::new();
    let mut cmd = home.duncan();
    cmd.args(["config", "show", "--json"])
        .env("DUNCAN_ENVIRONMENTS", "stage,prod,production");
    let out = crate::util::run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let row = doc["settings"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "confirm_by_name"))
        .cloned()
        .expect("a confirm_by_name row");
    assert_eq!(row["value"], "prod, production");
    assert_eq!(row["source"], "default");
}
