//! `cargo xtask sandbox`: the demo's example cluster, left running for a person to try duncan by
//! hand from another shell.
//!
//! It leaves that shell alone but for `DUNCAN_CONFIG` (never `HOME`, which `~`, git and ssh rely
//! on), says which tags its registry holds and which one never becomes healthy, and on Ctrl-C
//! (SIGINT) or SIGTERM stops the servers and removes its temporary directories.

use std::time::Duration;

use anyhow::{Result, bail};
use duncan_tests::example::{APP, BROKEN_TAG, ExampleCluster, TAGS};

use crate::demo::{ExampleConfig, build_duncan, overriding_variables, start_cluster};
use crate::system;

/// The line that says the sandbox is ready; a test waits for it.
pub(crate) const READY: &str = "The sandbox is running.";

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask sandbox` takes no arguments (got `{arg}`)");
    }
    let duncan = build_duncan()?;
    let no_registry = system::install_missing(&[&system::DOCKER_REGISTRY]).err();
    let cluster = start_cluster(Duration::from_millis(300), no_registry.as_ref())?;
    let config = ExampleConfig::create("duncan-sandbox", &cluster)?;
    let signal = cluster.wait_for_stop_signal(|| {
        print_instructions(&cluster, &config, &duncan.display().to_string());
        if let Some(why) = &no_registry {
            println!(
                "\nWithout a registry, because {why}. To get one:\n  {}",
                why.how.join("\n  ")
            );
        }
        println!("\nCtrl-C stops the sandbox and removes its files.");
    })?;
    eprintln!("{signal}: stopping the sandbox and removing its files…");
    drop(config);
    drop(cluster);
    eprintln!("sandbox stopped.");
    Ok(())
}

fn print_instructions(cluster: &ExampleCluster, config: &ExampleConfig, duncan: &str) {
    println!("{READY}");
    println!(
        "  consul   {}\n  marathon {}",
        cluster.consul_url(),
        cluster.marathon_url()
    );
    let skip = if cluster.has_registry() {
        println!(
            "  registry {} holds acme/{APP}:{}",
            cluster.registry_host(),
            TAGS.join(", ")
        );
        ""
    } else {
        println!("  registry none: pass --skip-image-check to deploy and rollback");
        " --skip-image-check"
    };
    println!("  {APP}:{BROKEN_TAG} never becomes healthy: a deploy of it fails and is rolled back");
    println!("\nIn another shell, paste:\n");
    println!("export DUNCAN_CONFIG={}", config.file().display());
    println!("alias duncan={duncan}");
    let overriding: Vec<String> = overriding_variables()
        .into_iter()
        .filter(|key| key != "DUNCAN_CONFIG")
        .collect();
    if !overriding.is_empty() {
        // These win over the file: a shell that has them would talk to other services.
        println!("unset {}", overriding.join(" "));
    }
    println!("\nthen try:");
    println!("  duncan status -a {APP}");
    println!("  duncan deploy -a {APP} -e stage -t v2{skip}");
    println!(
        "  duncan deploy -a {APP} -e stage -t {BROKEN_TAG} --timeout 10s{skip}   # never healthy: rolled back"
    );
    println!("  duncan history -a {APP} -e stage");
}
