//! In-process figures: parsing Marathon's real 1000-app root group (1.8 MB) into
//! `marathon_client::Group`, and writing it back as a group update body.
//!
//! Run with `cargo bench -p duncan-bench --bench parse`; `cargo xtask bench` runs it and puts the
//! median into BENCHMARKS.md.

use marathon_client::Group;

/// The real-world root group (see `data/SOURCES.md`).
const GROUP_1000_APPS: &[u8] = include_bytes!("../data/155_1000.json");

fn main() {
    divan::main();
}

/// Parses the 1000-app group, as duncan would if it read a whole cluster's root group.
#[divan::bench]
fn parse_group_1000_apps() -> Group {
    match serde_json::from_slice::<Group>(divan::black_box(GROUP_1000_APPS)) {
        Ok(group) => group,
        // The fixture is part of the repository; a parse failure is a broken benchmark.
        Err(error) => panic!("the 1000-app fixture does not parse: {error}"),
    }
}

/// Parses the group and writes it back as the lossless body of a group update.
#[divan::bench]
fn round_trip_group_1000_apps() -> Vec<u8> {
    let group: Group = match serde_json::from_slice(divan::black_box(GROUP_1000_APPS)) {
        Ok(group) => group,
        Err(error) => panic!("the 1000-app fixture does not parse: {error}"),
    };
    match serde_json::to_vec(&group) {
        Ok(body) => body,
        Err(error) => panic!("the 1000-app group does not serialize: {error}"),
    }
}
