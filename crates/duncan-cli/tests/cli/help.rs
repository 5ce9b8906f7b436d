//! `--help` of every command, pinned.

use clap_paths::ALL;

use crate::util::{Home, run, settings};

mod clap_paths {
    /// Every command path of `duncan`, for one help snapshot each.
    pub const ALL: &[&[&str]] = &[
        &[],
        &["deploy"],
        &["rollback"],
        &["status"],
        &["history"],
        &["lock"],
        &["lock", "status"],
        &["lock", "release"],
        &["env"],
        &["env", "list"],
        &["env", "get"],
        &["env", "set"],
        &["env", "unset"],
        &["scale"],
        &["watch"],
        &["config"],
        &["config", "show"],
        &["config", "search"],
        &["completions"],
        &["version"],
    ];
}

#[test]
fn help_of_every_command_is_pinned() {
    let home = Home::new();
    for path in ALL {
        let mut cmd = home.duncan();
        cmd.args(*path).arg("--help");
        let out = run(cmd);
        assert_eq!(out.code, 0, "{path:?}: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{path:?}: {}", out.stderr);
        let name = if path.is_empty() {
            "help".to_owned()
        } else {
            format!("help_{}", path.join("_"))
        };
        settings(&home).bind(|| insta::assert_snapshot!(name, out.stdout));
    }
}

#[test]
fn list_is_an_alias_of_status_and_del_of_unset() {
    let home = Home::new();
    let mut list = home.duncan();
    list.args(["list", "--help"]);
    let mut status = home.duncan();
    status.args(["status", "--help"]);
    assert_eq!(run(list).stdout, run(status).stdout);
    let mut del = home.duncan();
    del.args(["env", "del", "--help"]);
    let mut unset = home.duncan();
    unset.args(["env", "unset", "--help"]);
    assert_eq!(run(del).stdout, run(unset).stdout);
}
