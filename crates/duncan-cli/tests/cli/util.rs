//! The test harness: the test kit's clean home for the binary ([`Home`], [`run`]), snapshot
//! filters, and this suite's example configuration and deploy arguments.

pub use duncan_testkit::cli::{Home, Run, run, run_async};

/// insta settings that hide what changes between runs: ports, temp dirs, times, ids.
pub fn settings(home: &Home) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(&regex_escape(&home.path().display().to_string()), "[HOME]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?",
        "[TIME]",
    );
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    s
}

/// [`settings`] that also hide durations (`1.2s`, `350ms`), for outputs that time things.
pub fn settings_with_durations(home: &Home) -> insta::Settings {
    let mut s = settings(home);
    s.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]");
    s
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Formats a run for a snapshot: exit code, stdout, stderr.
pub fn shown(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// The Go tool's `example_duncan.yml`, as its users have it, pointed at the given services.
pub fn go_example_config(consul: &str, marathon_base: &str) -> String {
    format!(
        "# populate w/ valid values and save at ~/.duncan.yml\n---\n\
         marathon_host: {marathon_base}\n\
         chronos_host: https://mesos-host.com\n\
         slythe_host: https://slythe.host\n\
         github_org: myorg\n\
         docker_repo_prefix: quay.io/myorg\n\
         docker_conf_url:\n\
         quay_token:\n\
         slack_webhook_url:\n\
         consul_host: {consul}\n\
         consul_token:\n\
         vault_host: https://vault.host\n\
         vault_token:\n\
         \n\
         apps:\n  - dogfood\n  - skulls\n\
         \n\
         repos:\n  dogfood: dogfood-repo\n"
    )
}

/// The arguments of an unattended deploy of `dogfood` to `stage` at `tag` (`-y`, no registry
/// check), as most scenarios run it.
pub fn deploy_args(tag: &str) -> [&str; 9] {
    duncan_testkit::cli::deploy_args("dogfood", "stage", tag)
}
