//! `cargo xtask tidy`: quick text checks that the docs and the code have not drifted apart, run
//! first by `cargo xtask test` (it needs no build).
//!
//! - the README's configuration table names exactly the keys of duncan-cli's `FileKeys`;
//! - the README's exit-code table names exactly the codes of duncan-cli's `ExitStatus::code`;
//! - every crate and file ARCHITECTURE.md's code map names exists;
//! - no test is marked ignored;
//! - only the files of [`SLEEP_ALLOWED`] call `sleep(` in tests (waits should await a state);
//! - `cargo tree -d` lists at most [`DUPLICATE_BUDGET`] crates with two versions.
//!
//! Each check is a function from text to the problems it finds, unit-tested with a failing
//! example.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, project_root};

/// Test files that call `sleep(` today. A new one should await an observable state instead; one
/// that stops sleeping must leave the list, so it stays a true record.
const SLEEP_ALLOWED: &[&str] = &[
    "bench/src/cluster.rs",
    "bench/src/deploys.rs",
    "bench/src/lock_handoff.rs",
    "crates/consul-client/tests/it/kv.rs",
    "crates/consul-client/tests/it/lock.rs",
    "crates/consul-client/tests/it/session.rs",
    "crates/consul-client/tests/it/util.rs",
    "crates/consul-sim/tests/api/binary.rs",
    "crates/consul-sim/tests/api/events.rs",
    "crates/consul-sim/tests/api/faults.rs",
    "crates/consul-sim/tests/api/kv.rs",
    "crates/duncan-cli/tests/cli/day_two_history.rs", // polls the sims for the deploy's steps
    "crates/duncan-cli/tests/cli/day_two_lock.rs", // polls the sims for the waiting deploy's session
    "crates/duncan-cli/tests/cli/interrupt.rs",
    "crates/duncan-cli/tests/cli/progress_lines.rs", // polls the sims for the deploy's steps
    "crates/duncan-cli/tests/cli/signals.rs", // polls the sims between the steps it signals at
    "crates/duncan-core/tests/protocol_deploy.rs",
    "crates/duncan-core/tests/protocol_interleavings.rs", // polls for the other deployer's step
    "crates/duncan-core/src/watch/tests/deadlines.rs",    // a fake Marathon's slow answers
    "crates/duncan-core/src/watch/tests/holders.rs",
    "crates/duncan-core/src/watch/tests/liveness.rs",
    "crates/marathon-client/tests/it/sim.rs",
    "crates/marathon-client/tests/it/sim_events.rs",
    "crates/marathon-sim/tests/it/events.rs",
    "crates/marathon-sim/tests/it/support.rs",
    "crates/test-registry/src/server.rs",
    "tests/tests/it/marathon.rs",
    "tests/tests/reliability/chaos.rs", // the seeded schedule of kills, signals and faults
    "tests/tests/reliability/crash.rs",
    "tests/tests/reliability/never_hang.rs", // Marathon vanishes 2 s into the watch
    "tests/tests/reliability/race.rs",
    "tests/tests/reliability/security.rs",
    "tests/tests/reliability/signals.rs", // a proxy withholds the answer to a group PUT
];

/// How many crates `cargo tree -d` may list with more than one version.
const DUPLICATE_BUDGET: usize = 4;

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask tidy` takes no arguments (got `{arg}`)");
    }
    let root = project_root();
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).with_context(|| format!("cannot read {path}"))
    };
    let readme = read("README.md")?;
    let sources = rust_files(&root)?;
    let mut problems = Vec::new();
    problems.extend(config_table(
        &readme,
        &read("crates/duncan-cli/src/config/file.rs")?,
    ));
    problems.extend(exit_code_table(
        &readme,
        &read("crates/duncan-cli/src/failure.rs")?,
    ));
    let paths: Vec<&str> = sources.iter().map(|(path, _)| path.as_str()).collect();
    problems.extend(architecture_names(&read("ARCHITECTURE.md")?, &paths));
    problems.extend(ignored_tests(&sources));
    problems.extend(sleeps_in_tests(&sources, SLEEP_ALLOWED));
    let tree = Command::new(cargo())
        .args(["tree", "--duplicates", "--workspace", "--depth", "0"])
        .args(["--prefix", "none", "--quiet"])
        .current_dir(&root)
        .output()
        .context("cannot run cargo tree")?;
    if !tree.status.success() {
        bail!(
            "cargo tree --duplicates failed: {}",
            String::from_utf8_lossy(&tree.stderr)
        );
    }
    problems.extend(duplicate_versions(
        &String::from_utf8_lossy(&tree.stdout),
        DUPLICATE_BUDGET,
    ));
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!("tidy: docs and code agree");
    Ok(())
}

/// Every `.rs` file of the workspace (relative path, text), outside `target` and hidden folders.
fn rust_files(root: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?
        {
            let path: PathBuf = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    folders.push(path);
                }
            } else if name.ends_with(".rs") {
                let relative = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {relative}"))?;
                files.push((relative, text));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The lines of the Markdown section headed `heading` (up to the next heading of its level).
fn section<'a>(markdown: &'a str, heading: &str) -> Vec<&'a str> {
    let level = heading.split(' ').next().unwrap_or("##");
    markdown
        .lines()
        .skip_while(|line| *line != heading)
        .skip(1)
        .take_while(|line| {
            !(line.starts_with(level) && line.as_bytes().get(level.len()) == Some(&b' '))
        })
        .collect()
}

/// The first cells of a Markdown table's body rows.
fn first_cells<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1).map(str::trim))
        .filter(|cell| !cell.starts_with("---"))
        .skip(1) // the header row
        .collect()
}

fn compare(what: &str, documented: &BTreeSet<String>, known: &BTreeSet<String>) -> Vec<String> {
    let mut problems: Vec<String> = known
        .difference(documented)
        .map(|item| format!("{what}: `{item}` is in the code but not in the README"))
        .collect();
    problems.extend(
        documented
            .difference(known)
            .map(|item| format!("{what}: `{item}` is in the README but not in the code")),
    );
    problems
}

/// The README's configuration table against the fields of `FileKeys` (in `file_rs`).
fn config_table(readme: &str, file_rs: &str) -> Vec<String> {
    let documented: BTreeSet<String> = first_cells(&section(readme, "## Configuration"))
        .into_iter()
        .filter_map(|cell| cell.strip_prefix('`')?.strip_suffix('`'))
        .map(str::to_owned)
        .collect();
    let known: BTreeSet<String> = file_rs
        .lines()
        .skip_while(|line| !line.starts_with("pub struct FileKeys"))
        .take_while(|line| *line != "}")
        .filter_map(|line| line.trim().strip_prefix("pub ")?.split_once(':'))
        .map(|(name, _)| name.to_owned())
        .filter(|name| name != "other")
        .collect();
    if known.is_empty() {
        return vec!["configuration: no field of `pub struct FileKeys` found".to_owned()];
    }
    compare("configuration table", &documented, &known)
}

/// The README's exit-code table against the codes of `ExitStatus::code` (in `failure_rs`).
fn exit_code_table(readme: &str, failure_rs: &str) -> Vec<String> {
    let documented: BTreeSet<String> = first_cells(&section(readme, "## Exit codes"))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let known: BTreeSet<String> = failure_rs
        .lines()
        .skip_while(|line| !line.contains("pub fn code(self)"))
        .take_while(|line| line.trim() != "}")
        .filter_map(|line| line.split_once("=> ")?.1.strip_suffix(','))
        .map(str::to_owned)
        .collect();
    if known.is_empty() {
        return vec!["exit codes: no `pub fn code(self)` arms found".to_owned()];
    }
    compare("exit-code table", &documented, &known)
}

/// Every crate (a `### \`path\`` heading) and file (a backticked `….rs` in its section, found
/// anywhere below the crate) that ARCHITECTURE.md's code map names, against the workspace's
/// `.rs` files (`paths`, from the workspace root).
fn architecture_names(architecture: &str, paths: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut crate_dir: Option<String> = None;
    for line in section(architecture, "## Code map") {
        if let Some(heading) = line.strip_prefix("### `") {
            let dir = heading.split('`').next().unwrap_or("").to_owned();
            let prefix = format!("{dir}/");
            if !paths.iter().any(|path| path.starts_with(&prefix)) {
                problems.push(format!(
                    "ARCHITECTURE.md names `{dir}`, which does not exist"
                ));
            }
            crate_dir = Some(dir);
            continue;
        }
        let Some(dir) = &crate_dir else { continue };
        for name in line.split('`').skip(1).step_by(2) {
            let Some(file) = name.strip_suffix(".rs") else {
                continue;
            };
            let file = format!("{file}.rs");
            let (prefix, suffix) = (format!("{dir}/"), format!("/{file}"));
            if !paths
                .iter()
                .any(|path| path.starts_with(&prefix) && path.ends_with(&suffix))
            {
                problems.push(format!(
                    "ARCHITECTURE.md names `{file}` under `{dir}`, which has no such file"
                ));
            }
        }
    }
    problems
}

/// Test functions marked ignored.
fn ignored_tests(files: &[(String, String)]) -> Vec<String> {
    let marker = concat!("#[", "ignore");
    files
        .iter()
        .filter(|(_, text)| {
            text.lines()
                .any(|line| line.trim_start().starts_with(marker))
        })
        .map(|(path, _)| format!("{path}: a test is marked `{marker}]`; make it run or remove it"))
        .collect()
}

/// Whether `path` holds test code: a test-support crate or a `tests` folder.
fn is_test_code(path: &str) -> bool {
    path.starts_with("tests/")
        || path.starts_with("bench/")
        || path.starts_with("crates/test-")
        || path.contains("/tests/")
}

/// `sleep(` in test code outside `allowed`, and entries of `allowed` that no longer sleep.
fn sleeps_in_tests(files: &[(String, String)], allowed: &[&str]) -> Vec<String> {
    let sleeping: BTreeSet<&str> = files
        .iter()
        .filter(|(path, text)| is_test_code(path) && text.contains("sleep("))
        .map(|(path, _)| path.as_str())
        .collect();
    let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
    let mut problems: Vec<String> = sleeping
        .difference(&allowed)
        .map(|path| {
            format!(
                "{path}: calls `sleep(` in a test; await an observable state instead (or add \
                 it to SLEEP_ALLOWED in xtask/src/tidy.rs with the reason)"
            )
        })
        .collect();
    problems.extend(allowed.difference(&sleeping).map(|path| {
        format!("{path}: listed in SLEEP_ALLOWED but no longer sleeps; remove it from the list")
    }));
    problems
}

/// Crates that `cargo tree --duplicates --depth 0 --prefix none` (its output: `tree`) lists in
/// more than one version, over `budget`.
fn duplicate_versions(tree: &str, budget: usize) -> Vec<String> {
    let names: BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    if names.len() <= budget {
        return Vec::new();
    }
    vec![format!(
        "{} crates come in two versions or more (budget {budget}): {}; align the versions or \
         raise DUPLICATE_BUDGET in xtask/src/tidy.rs",
        names.len(),
        names.into_iter().collect::<Vec<_>>().join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "\
# duncan

## Configuration

| file key | environment | meaning |
| --- | --- | --- |
| `consul_url` | `CONSUL_HTTP_ADDR` | Consul. |
| `ghost_key` | | Documented, not known. |
| | `HOSTNAME` | The host. |

## Exit codes

| code | meaning |
| --- | --- |
| 0 | Done. |
| 9 | Documented, not returned. |

## Next
";

    #[test]
    fn a_config_key_missing_from_the_readme_or_unknown_to_the_code_is_reported() {
        let file_rs = "\
/// Keys.
pub struct FileKeys {
    /// Consul.
    pub consul_url: Option<String>,
    /// Not documented.
    pub quay_token: Option<String>,
    /// Every other key.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml::Value>,
}
";
        assert_eq!(
            config_table(README, file_rs),
            [
                "configuration table: `quay_token` is in the code but not in the README",
                "configuration table: `ghost_key` is in the README but not in the code",
            ]
        );
    }

    #[test]
    fn an_exit_code_missing_from_the_readme_or_never_returned_is_reported() {
        let failure_rs = "\
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Interrupted => 130,
        }
    }
";
        assert_eq!(
            exit_code_table(README, failure_rs),
            [
                "exit-code table: `130` is in the code but not in the README",
                "exit-code table: `9` is in the README but not in the code",
            ]
        );
    }

    #[test]
    fn a_crate_or_file_architecture_names_that_does_not_exist_is_reported() {
        let architecture = "\
## Code map

### `crates/consul-client`
`config.rs` (address), `gone.rs` (removed).

### `crates/vanished`
Nothing.

## Invariants
`not_in_the_map.rs`
";
        let paths = [
            "crates/consul-client/src/lib.rs",
            "crates/consul-client/src/config.rs",
        ];
        assert_eq!(
            architecture_names(architecture, &paths),
            [
                "ARCHITECTURE.md names `gone.rs` under `crates/consul-client`, which has no such file",
                "ARCHITECTURE.md names `crates/vanished`, which does not exist",
            ]
        );
    }

    #[test]
    fn an_ignored_test_is_reported() {
        let files = [
            (
                "crates/a/src/lib.rs".to_owned(),
                format!("#[test]\n{}]\nfn slow() {{}}\n", concat!("#[", "ignore")),
            ),
            (
                "crates/b/src/lib.rs".to_owned(),
                format!(
                    "#[test]\nfn quick() {{ let _ = \"{}] in a string\"; }}\n",
                    concat!("#[", "ignore")
                ),
            ),
        ];
        assert_eq!(
            ignored_tests(&files),
            [format!(
                "crates/a/src/lib.rs: a test is marked `{}]`; make it run or remove it",
                concat!("#[", "ignore")
            )]
        );
    }

    #[test]
    fn a_new_sleep_in_a_test_and_a_stale_allow_list_entry_are_reported() {
        let files = [
            (
                "crates/a/tests/wait.rs".to_owned(),
                "std::thread::sleep(d);".to_owned(),
            ),
            (
                "crates/a/src/retry.rs".to_owned(),
                "tokio::time::sleep(backoff).await;".to_owned(),
            ),
            (
                "crates/b/tests/old.rs".to_owned(),
                "fn quick() {}".to_owned(),
            ),
        ];
        let problems = sleeps_in_tests(&files, &["crates/b/tests/old.rs"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("crates/a/tests/wait.rs: calls `sleep(`"));
        assert!(problems[1].starts_with("crates/b/tests/old.rs: listed in SLEEP_ALLOWED"));
    }

    #[test]
    fn duplicate_versions_over_the_budget_are_reported() {
        let tree = "base64 v0.22.1\n\nbase64 v0.23.1\nsyn v2.0.1\n\nsyn v3.0.0\n";
        assert_eq!(duplicate_versions(tree, 2), Vec::<String>::new());
        assert_eq!(
            duplicate_versions(tree, 1),
            [
                "2 crates come in two versions or more (budget 1): base64, syn; align the \
              versions or raise DUPLICATE_BUDGET in xtask/src/tidy.rs"
            ]
        );
    }
}
