//! The first run on a fresh machine: `cargo xtask demo` where the registry can be neither found
//! nor installed, and `cargo xtask sandbox` stopped with Ctrl-C.
//!
//! The registry is hidden with `DUNCAN_TEST_REGISTRY_BINARY` (pointing at a file that does not
//! exist, which hides `PATH` and Debian's location too), and `apt-get` is replaced with a stub that
//! fails as it does without root, through `XTASK_APT_GET`; so these tests never install anything.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A stub `apt-get` that refuses as Debian's does for a user who is not root.
fn failing_apt_get(dir: &Path) -> PathBuf {
    let path = dir.join("apt-get");
    std::fs::write(
        &path,
        "#!/bin/sh\necho 'E: Could not open lock file /var/lib/apt/lists/lock - open (13: \
         Permission denied)' >&2\nexit 100\n",
    )
    .expect("write the stub");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn xtask(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(args)
        .env("XTASK_APT_GET", failing_apt_get(dir))
        .env_remove("XTASK_WORKSPACE_ROOT");
    command
}

#[test]
fn demo_without_a_registry_it_cannot_install_skips_the_registry_steps_and_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = xtask(&["demo"], dir.path())
        .env(
            "DUNCAN_TEST_REGISTRY_BINARY",
            dir.path().join("hidden").join("docker-registry"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the demo failed:\n{stderr}");
    assert!(
        stderr.contains(
            "  skip (needs the registry): a typo'd tag is refused before anything changes"
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("\n  ok   exit ").count(),
        8,
        "every other step runs and behaves as expected:\n{stderr}"
    );
    assert!(
        stderr.contains(
            "  ok   exit 4 (expected 4): a tag that never becomes healthy: the deploy fails and \
             is rolled back"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("To get the registry steps:\n  on Debian or Ubuntu: `sudo apt-get install docker-registry`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--skip-image-check"),
        "the note says the deploys skipped the image check:\n{stderr}"
    );
}

/// The entries of `dir` that the sandbox (or its registry) made.
fn duncan_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read the temp dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with("duncan-"))
        .collect()
}

#[test]
fn sandbox_leaves_home_alone_and_removes_its_temporary_directories_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    let mut sandbox = xtask(&["sandbox"], dir.path())
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xtask runs");
    let mut lines = BufReader::new(sandbox.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    loop {
        let line = lines
            .next()
            .expect("the sandbox ended before saying Ctrl-C stops it")
            .expect("utf-8");
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Ctrl-C stops the sandbox") {
            break;
        }
    }
    assert!(printed.contains("export DUNCAN_CONFIG="), "{printed}");
    assert!(!printed.contains("HOME"), "{printed}");
    assert!(
        printed.contains("shop:v3 never becomes healthy"),
        "{printed}"
    );
    let config = printed
        .lines()
        .find_map(|line| line.strip_prefix("export DUNCAN_CONFIG="))
        .expect("the export line");
    assert!(
        std::fs::read_to_string(config)
            .expect("the exported config exists")
            .contains("marathon_url: http://127.0.0.1:"),
        "{config}"
    );
    assert!(
        !duncan_entries(&tmp).is_empty(),
        "nothing was made in TMPDIR"
    );

    let interrupted = Command::new("kill")
        .args(["-INT", &sandbox.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let status = sandbox.wait().expect("the sandbox ends");
    assert!(status.success(), "the sandbox ended with {status}");
    assert_eq!(duncan_entries(&tmp), Vec::<String>::new());
}
