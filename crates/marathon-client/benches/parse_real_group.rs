//! Times parsing the real 1000-app root group (1.8 MB) into the lossless [`Group`] model.
//!
//! `cargo bench -p marathon-client --bench parse_real_group` prints the median of a few
//! runs; the target is well under 50 ms in a release build.

use std::time::{Duration, Instant};

use marathon_client::Group;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/real-groups/155_1000.json"
    );
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let runs = 15;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut apps = 0;
    for _ in 0..runs {
        let start = Instant::now();
        match serde_json::from_slice::<Group>(&bytes) {
            Ok(group) => apps = group.all_apps().len(),
            Err(e) => {
                eprintln!("parse failed: {e}");
                std::process::exit(1);
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[runs / 2];
    println!(
        "parse 155_1000.json ({} bytes, {apps} apps): median {:.2} ms over {runs} runs (min {:.2} ms)",
        bytes.len(),
        median.as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0
    );
}
