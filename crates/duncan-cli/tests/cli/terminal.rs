//! On a terminal, what duncan logs while the progress line is drawn never lands on the same
//! line: the line is erased first and redrawn after. The binary runs under a pseudo-terminal
//! made by util-linux's `script`.

use std::time::Duration;

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, deploy_args, run_async};

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// What a terminal shows of each line: the text after the last erase (`\r\x1b[2K`) or
/// carriage return.
fn visible_lines(raw: &str) -> Vec<String> {
    raw.split('\n')
        .map(|line| {
            let line = line.trim_end_matches('\r');
            let after_erase = line.rsplit("\x1b[2K").next().unwrap_or(line);
            after_erase
                .rsplit('\r')
                .next()
                .unwrap_or(after_erase)
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_on_a_terminal_never_share_a_line_with_the_progress_line() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_millis(800)),
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let duncan = assert_cmd::cargo::cargo_bin("duncan");
    let args = deploy_args("slow").join(" ");
    // -vv logs every HTTP request, many of them while the progress line is drawn.
    let shell = format!(
        "stty cols 100 rows 40; exec {} {args} -vv --color never",
        duncan.display()
    );
    // The same clean environment as every other run of the binary.
    let env = home.duncan();
    // `script` runs the shell on a new pseudo-terminal and copies what it shows to stdout.
    let mut script = assert_cmd::Command::new("script");
    script.args(["-q", "-e", "-f", "-c", &shell, "/dev/null"]);
    script.env_clear();
    for (name, value) in env.get_envs() {
        if let Some(value) = value {
            script.env(name, value);
        }
    }
    let out = run_async(script).await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    let raw = &out.stdout;
    assert!(raw.contains("debug:"), "no log line was drawn: {raw}");
    assert!(raw.contains(SPINNER), "no progress line was drawn: {raw}");
    for line in visible_lines(raw) {
        assert!(
            !(line.contains(SPINNER) && line.contains("debug:")),
            "a log line shares a line with the progress line: {line:?}"
        );
    }
    assert!(raw.contains("deployed slow to dogfood/stage"), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_on_a_terminal_shows_the_plan_on_stderr_before_asking() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let stdout = home.path().join("stdout.json");
    // stdin and stderr are the terminal; stdout goes to a file, as a script reading it would.
    let args = format!(
        "deploy -a dogfood -e stage -t v2 --skip-image-check --json > {}",
        stdout.display()
    );
    let home_ref = &home;
    let (code, screen) =
        tokio::task::block_in_place(|| crate::interrupt::on_terminal(home_ref, &args, "no\n"));
    assert_eq!(code, Some(0), "{screen}");
    let plan_at = screen.find("You are about to deploy:");
    let prompt_at = screen.find("are you sure?");
    assert!(
        plan_at.is_some() && plan_at < prompt_at,
        "the plan comes before the prompt: {screen}"
    );
    assert!(screen.contains("quay.io/myorg/dogfood:v2"), "{screen}");
    let document = std::fs::read_to_string(&stdout).expect("stdout file");
    assert!(!document.contains("You are about to"), "{document}");
    let _: serde_json::Value =
        serde_json::from_str(&document).expect("stdout is one JSON document");
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}
