//! `cargo xtask sandbox`: the demo's example cluster, left running for a person to try duncan by
//! hand. Ctrl-C stops it.

use std::time::Duration;

use anyhow::{Result, bail};
use duncan_tests::example::{APP, BROKEN_TAG, ExampleCluster};

use crate::demo::{DemoHome, build_duncan};

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask sandbox` takes no arguments (got `{arg}`)");
    }
    let duncan = build_duncan()?;
    let cluster = ExampleCluster::start(Duration::from_millis(300))?;
    let home = DemoHome::create(&cluster)?;
    println!("The sandbox is running. In another shell, paste:\n");
    println!("export HOME={}", home.path().display());
    println!(
        "export CONSUL_HTTP_ADDR={} MARATHON_URL={}",
        cluster.consul_url(),
        cluster.marathon_url()
    );
    println!("alias duncan={}", duncan.display());
    println!("\nthen try:");
    println!("  duncan status -a {APP}");
    println!("  duncan deploy -a {APP} -e stage -t v2");
    println!(
        "  duncan deploy -a {APP} -e stage -t {BROKEN_TAG} --timeout 10s   # never healthy: rolled back"
    );
    println!("  duncan history -a {APP} -e stage");
    println!("\nCtrl-C stops the sandbox.");
    wait_for_interrupt();
    drop(cluster);
    Ok(())
}

/// Blocks until the process is told to stop; the default SIGINT handler ends the process, and
/// the servers die with it (they are in-process, and the registry child is in our process group).
fn wait_for_interrupt() {
    loop {
        std::thread::park();
    }
}
