//! `cargo xtask reliability`: the reliability and security proofs; writes RELIABILITY.md.
//!
//! Builds `duncan`, runs the `reliability` test binary of `duncan-tests` in its full form
//! (`DUNCAN_RELIABILITY=full`: more deployers, more runs, more random cases) with
//! `--no-capture`, and collects the line each scenario prints,
//! `RELIABILITY|scenario|runs|result|figure|test`, into the table of RELIABILITY.md, with the
//! test that reproduces each row. A test that fails
//! before printing its line gets a FAIL row of its own. The hand-written parts of RELIABILITY.md
//! (findings, what is not covered) are kept: only the text between the `reliability:begin` and
//! `reliability:end` markers is replaced.
//!
//! `--short` runs the short form CI runs (`cargo nextest run --workspace` includes it) and prints
//! the table without writing the file. Set `DUNCAN_RELIABILITY_SEED` to replay the random
//! timings of an earlier run (each run prints its seed).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::system::{OPENSSL, ensure_installed};
use crate::{cargo, project_root, run_step};

const BEGIN: &str = "<!-- reliability:begin (written by `cargo xtask reliability`) -->";
const END: &str = "<!-- reliability:end -->";

/// One row of the table.
struct Row {
    scenario: String,
    runs: String,
    result: String,
    figure: String,
    test: Option<String>,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut short = false;
    for arg in args {
        match arg.as_str() {
            "--short" => short = true,
            other => bail!("unknown argument `{other}` (usage: cargo xtask reliability [--short])"),
        }
    }
    ensure_installed(&[&OPENSSL])?;
    let cargo = cargo();
    // The tests run the real binary: build it first, so they never run a stale one.
    run_step(&cargo, &["build", "-p", "duncan-cli", "--bin", "duncan"])?;

    let test_args = [
        "nextest",
        "run",
        "-p",
        "duncan-tests",
        "--test",
        "reliability",
        "--no-capture",
        "--no-fail-fast",
    ];
    let form = if short { "short" } else { "full" };
    eprintln!(
        "$ DUNCAN_RELIABILITY={form} {cargo} {}",
        test_args.join(" ")
    );
    let mut child = Command::new(&cargo)
        .args(test_args)
        .env("DUNCAN_RELIABILITY", form)
        .current_dir(project_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not start cargo nextest")?;
    let stdout = child
        .stdout
        .take()
        .context("no stdout from cargo nextest")?;
    let stderr = child
        .stderr
        .take()
        .context("no stderr from cargo nextest")?;
    // nextest reports PASS / FAIL on stderr: echo it, and keep the names of failed tests.
    let failures = std::thread::spawn(move || {
        let mut failed: Vec<String> = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(test) = failed_test(&line)
                && !failed.contains(&test)
            {
                failed.push(test);
            }
        }
        failed
    });
    let mut rows = Vec::new();
    let mut seeds = Vec::new();
    let mut echo = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("could not read the test output")?;
        let _ = writeln!(echo, "{line}");
        if let Some(row) = parse_row(&line) {
            rows.push(row);
        } else if line.starts_with("seed of ") {
            seeds.push(line.clone());
        }
    }
    drop(echo);
    let status = child.wait().context("cargo nextest did not finish")?;
    let failed_tests = failures.join().unwrap_or_default();
    // A failed test that printed its own (FAIL) row needs no second one.
    let unreported: Vec<&String> = failed_tests
        .iter()
        .filter(|test| {
            !rows
                .iter()
                .any(|r| r.test.as_deref() == Some(test.as_str()))
        })
        .collect();
    for test in unreported {
        rows.push(Row {
            scenario: format!("test `{test}`"),
            runs: "1".to_owned(),
            result: "FAIL".to_owned(),
            figure: "failed before reporting its figure: see the test output".to_owned(),
            test: Some(test.clone()),
        });
    }
    if rows.is_empty() {
        bail!("the reliability tests printed no figures ({status})");
    }

    let table = render(&rows, &seeds, form);
    if short {
        print!("{table}");
    } else {
        write_report(&table)?;
        eprintln!("wrote RELIABILITY.md ({} rows)", rows.len());
    }
    let failures = rows.iter().filter(|r| r.result != "pass").count();
    if failures > 0 || !status.success() {
        bail!("{failures} reliability scenario(s) failed ({status})");
    }
    Ok(())
}

/// `RELIABILITY|scenario|runs|result|figure[|test]` → a row.
fn parse_row(line: &str) -> Option<Row> {
    let rest = line.trim().strip_prefix("RELIABILITY|")?;
    let fields: Vec<&str> = rest.split('|').collect();
    let (scenario, runs, result, figure, test) = match fields.as_slice() {
        [scenario, runs, result, figure] => (scenario, runs, result, figure, None),
        [scenario, runs, result, figure, test] => {
            (scenario, runs, result, figure, Some((*test).to_owned()))
        }
        _ => return None,
    };
    Some(Row {
        scenario: (*scenario).to_owned(),
        runs: (*runs).to_owned(),
        result: (*result).to_owned(),
        figure: (*figure).to_owned(),
        test,
    })
}

/// nextest's `FAIL [ 1.2s] (3/9) duncan-tests::reliability module::test` → the test's name.
fn failed_test(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("FAIL [")?;
    let name = rest.split_whitespace().last()?;
    Some(name.to_owned())
}

fn render(rows: &[Row], seeds: &[String], form: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Figures of the {form} form, on this machine ({} CPUs), written by `cargo xtask \
         reliability`.\n\n",
        std::thread::available_parallelism().map_or(0, usize::from)
    ));
    out.push_str(
        "Reproduce one row with `DUNCAN_RELIABILITY=full cargo nextest run -p duncan-tests \
         --test reliability --no-capture TEST`, TEST from its last column.\n\n",
    );
    out.push_str(
        "| scenario | runs | result | figure | test |\n| --- | ---: | --- | --- | --- |\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(&row.scenario),
            cell(&row.runs),
            cell(&row.result),
            cell(&row.figure),
            row.test
                .as_deref()
                .map_or_else(String::new, |t| format!("`{}`", cell(t)))
        ));
    }
    if !seeds.is_empty() {
        out.push_str(
            "\nSeeds of the random timings in this run (replay with the variable shown):\n\n",
        );
        for seed in seeds {
            out.push_str(&format!("- {}\n", seed.trim()));
        }
    }
    out
}

/// A table cell: pipes escaped, one line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn write_report(table: &str) -> Result<()> {
    let path = project_root().join("RELIABILITY.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = format!("{BEGIN}\n{table}{END}");
    let text = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{generated}{}",
            &existing[..begin],
            &existing[end + END.len()..]
        ),
        _ => format!(
            "# Reliability and security\n\nReproduce with `cargo xtask reliability`.\n\n{generated}\n"
        ),
    };
    std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_lines_become_rows_and_other_lines_do_not() {
        let row = parse_row("RELIABILITY|2 deployers|10|pass|0 overlaps").expect("a row");
        assert_eq!(
            (
                row.scenario.as_str(),
                row.runs.as_str(),
                row.result.as_str()
            ),
            ("2 deployers", "10", "pass")
        );
        assert_eq!(row.figure, "0 overlaps");
        assert_eq!(row.test, None);
        let named = parse_row("RELIABILITY|a|1|pass|b|race::x").expect("a row");
        assert_eq!(named.test.as_deref(), Some("race::x"));
        assert!(parse_row("test race::x ... ok").is_none());
        assert!(parse_row("RELIABILITY|too|few").is_none());
    }

    #[test]
    fn failed_tests_are_named_from_nextest_lines() {
        assert_eq!(
            failed_test("        FAIL [   0.4s] (4/7) duncan-tests::reliability crash::x_y")
                .as_deref(),
            Some("crash::x_y")
        );
        assert_eq!(failed_test("        PASS [   0.4s] (4/7) crash::x"), None);
    }

    #[test]
    fn cells_escape_pipes_and_newlines() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
