//! The texts that describe duncan's protocol rather than a measurement: the protocol minimum
//! of sequential round trips, and "Where a target is missed, and why", findings read off the
//! request log of one deploy, so that a note disappears by itself once its cause is fixed.

use crate::deploys::Cost;

/// The protocol minimum of sequential round trips, as BENCHMARKS.md states it. Edit it here
/// alone: the summary's target is the first bold number in it ([`protocol_minimum`]).
pub const PROTOCOL_MINIMUM: &str = "The protocol minimum is **7** sequential round trips: (1) \
    the group and, beside it, one Consul transaction that reads the tags and probes the ACL; (2) \
    the session, with the event stream opened beside it; (3) the lock, one transaction that also \
    reads the tags under the lock; (4) the group update; (5) after `deployment_success`, the \
    REST confirmation (one app read per changed app, sent together); (6) the fenced release \
    transaction, which also unlocks; (7) the session destroy, with the Consul user event beside \
    it.";

/// The number of round trips [`PROTOCOL_MINIMUM`] states: its first `**N**`.
pub fn protocol_minimum() -> Option<u32> {
    bold_number(PROTOCOL_MINIMUM)
}

/// The first `**N**` of `text`, when it holds a number.
fn bold_number(text: &str) -> Option<u32> {
    let (_, rest) = text.split_once("**")?;
    let (inside, _) = rest.split_once("**")?;
    inside.trim().parse().ok()
}

fn count(log: &[String], f: impl Fn(&str) -> bool) -> usize {
    log.iter().filter(|r| f(r)).count()
}

/// One line per extra request pattern found in `cost`'s logs, naming the code that sends it.
pub fn request_findings(cost: &Cost) -> Vec<String> {
    let consul = &cost.consul_log;
    let marathon = &cost.marathon_log;
    let mut notes = Vec::new();
    let previous = count(consul, |r| r.starts_with("GET ") && r.contains("/previous"));
    if previous > 0 {
        notes.push(format!(
            "{previous} GETs of `previous`, each right after one of `current`: \
             `duncan-core/src/release.rs` `read_tags` reads the two keys one after the other; one \
             `/v1/txn` with two `get` ops would read both at once, consistently. It runs twice per \
             deploy (plan, and again under the lock)."
        ));
    }
    let txns = count(consul, |r| r.starts_with("PUT /v1/txn"));
    // The tags with the ACL probe, the lock, and the release.
    let protocol_txns = 3 - usize::from(consul.iter().any(|r| r.contains("acquire=")));
    if txns > protocol_txns {
        let reads = count(consul, |r| r.starts_with("PUT /v1/txn?consistent"));
        notes.push(format!(
            "{txns} Consul transactions where the protocol minimum has {protocol_txns} ({reads} \
             of them read-only, `?consistent`): besides the protocol's own, reads the protocol \
             folds into another transaction, or audit events appended in transactions of their \
             own, such as `deploy_started` once Marathon accepted the update \
             (`duncan-core/src/audit/log.rs` `append`). The request log above shows which."
        ));
    }
    let listings = count(consul, |r| r.starts_with("GET ") && r.contains("keys"));
    if listings > 0 {
        notes.push(format!(
            "{listings} key listings of `history/` and `events/`: a record is numbered from its \
             counter (`seq/history`, `seq/events`; `duncan-core/src/sequence.rs`), and the \
             prefix is listed only when the counter is missing (the first deploy of an app/env) \
             or proved stale (entries written without it)."
        ));
    }
    let txn_at = consul.iter().rposition(|r| r.starts_with("PUT /v1/txn"));
    let release_at = consul
        .iter()
        .position(|r| r.starts_with("PUT ") && r.contains("release="));
    if let (Some(txn), Some(release)) = (txn_at, release_at)
        && release > txn
    {
        notes.push(
            "a `PUT …/lock?release=` after the release txn, which already `unlock`ed the key: \
             `duncan-core/src/lock.rs` `DeployLock::release` calls consul-client's \
             `HeldLock::release` (`consul-client/src/lock.rs`), which always releases before \
             destroying the session; the session destroy alone would do."
                .to_owned(),
        );
    }
    let acquire_at = consul
        .iter()
        .position(|r| r.starts_with("PUT ") && r.contains("acquire="));
    if let Some(acquire) = acquire_at {
        let lock_reads = |range: &[String]| {
            count(range, |r| {
                r.starts_with("GET ") && r.contains("/lock") && !r.contains("index=")
            })
        };
        let before = consul.get(..acquire).map_or(0, lock_reads);
        let after = consul.get(acquire..).map_or(0, lock_reads);
        if before > 0 {
            notes.push(format!(
                "{before} GET of the lock key before the `acquire`: consul-client's \
                 `Lock::try_acquire` (`consul-client/src/lock.rs`) reads the key to check its \
                 flags before trying; trying first and reading only when refused would save it \
                 on every uncontended deploy."
            ));
        }
        if after > 0 {
            notes.push(format!(
                "{after} plain GET of the lock key after the `acquire`, then a blocking one: \
                 the lock monitor (`consul-client/src/lock.rs` `monitor`) starts with a \
                 non-blocking read; it could start blocking at the index the `acquire` produced."
            ));
        }
    }
    // The watch's REST reads: every Marathon GET after the update, the event stream aside.
    let after_update = marathon
        .iter()
        .position(|r| r.starts_with("PUT /v2/groups/"))
        .and_then(|update| marathon.get(update + 1..))
        .unwrap_or_default();
    let watch_reads = count(after_update, |r| {
        r.starts_with("GET ") && !r.contains("/v2/events")
    });
    // The apps the watch read are the changed ones; one at least.
    let mut apps_read: Vec<&str> = after_update
        .iter()
        .filter_map(|r| r.strip_prefix("GET /v2/apps/"))
        .map(|r| r.split('?').next().unwrap_or(r))
        .collect();
    apps_read.sort_unstable();
    apps_read.dedup();
    let changed_apps = apps_read.len().max(1);
    if watch_reads > changed_apps {
        notes.push(format!(
            "{watch_reads} REST reads of Marathon after the update, where the protocol minimum \
             has one per changed app ({changed_apps} here), the REST confirmation after \
             `deployment_success`: the others are the watch's own reads \
             (`duncan-core/src/watch.rs`), which feed the progress display or stand in for \
             events that have not come."
        ));
    }
    let groups = count(marathon, |r| r.starts_with("GET /v2/groups/"));
    if groups > 1 {
        notes.push(format!(
            "{groups} reads of the group where the protocol minimum has one: the plan's, and a \
             re-read (under the lock, in case someone deployed while duncan waited for it)."
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(marathon: &[&str], consul: &[&str]) -> Cost {
        Cost {
            other_apps: 0,
            marathon_requests: marathon.len() as u64,
            marathon_bytes: (0, 0),
            consul_requests: consul.len(),
            consul_bytes_in: 0,
            marathon_log: marathon.iter().map(|s| (*s).to_owned()).collect(),
            consul_log: consul.iter().map(|s| (*s).to_owned()).collect(),
            each_deploy: Vec::new(),
            each_bytes: Vec::new(),
            first_deploy: 0,
        }
    }

    #[test]
    fn a_release_after_the_unlocking_txn_is_reported() {
        let c = cost(
            &[],
            &[
                "PUT /v1/txn",
                "PUT /v1/kv/x/lock?release=s",
                "PUT /v1/session/destroy/s",
            ],
        );
        let notes = request_findings(&c);
        assert_eq!(notes.len(), 1);
        assert!(notes.iter().all(|n| n.contains("HeldLock::release")));
    }

    #[test]
    fn a_minimal_deploy_has_no_findings() {
        let c = cost(
            &[
                "GET /v2/groups/shop-stage",
                "GET /v2/events",
                "PUT /v2/groups/shop-stage",
                "GET /v2/deployments",
            ],
            &[
                "PUT /v1/txn",
                "PUT /v1/session/create",
                "PUT /v1/kv/deploys/shop/stage/lock?acquire=s",
                "GET /v1/kv/deploys/shop/stage/lock?index=3&wait=60s",
                "PUT /v1/txn",
                "PUT /v1/session/destroy/s",
            ],
        );
        assert_eq!(request_findings(&c), Vec::<String>::new());
    }

    #[test]
    fn the_protocol_minimum_is_the_first_bold_number_of_its_paragraph() {
        assert_eq!(
            bold_number("at least **12** trips, **3** of them"),
            Some(12)
        );
        assert_eq!(bold_number("no number **here**"), None);
        assert_eq!(bold_number("unclosed **7"), None);
        assert_eq!(protocol_minimum(), bold_number(PROTOCOL_MINIMUM));
        assert!(protocol_minimum().is_some(), "{PROTOCOL_MINIMUM}");
    }

    #[test]
    fn one_confirming_read_per_changed_app_is_no_finding() {
        let c = cost(
            &[
                "GET /v2/groups/shop-stage",
                "GET /v2/events",
                "PUT /v2/groups/shop-stage",
                "GET /v2/apps/shop-stage/web?embed=app.tasks",
                "GET /v2/apps/shop-stage/worker?embed=app.tasks",
            ],
            &[],
        );
        assert_eq!(request_findings(&c), Vec::<String>::new());
    }

    #[test]
    fn watch_reads_beyond_the_confirmation_are_reported() {
        let c = cost(
            &[
                "GET /v2/groups/shop-stage",
                "GET /v2/groups/shop-stage",
                "GET /v2/events",
                "PUT /v2/groups/shop-stage",
                "GET /v2/deployments",
                "GET /v2/apps/shop-stage/web?embed=app.tasks",
                "GET /v2/apps/shop-stage/web?embed=app.tasks",
            ],
            &[],
        );
        let notes = request_findings(&c);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes
                .first()
                .is_some_and(|n| n.starts_with("3 REST reads of Marathon after the update"))
        );
        assert!(
            notes
                .get(1)
                .is_some_and(|n| n.starts_with("2 reads of the group"))
        );
    }

    #[test]
    fn transactions_beyond_the_protocols_three_are_reported() {
        let c = cost(
            &[],
            &[
                "PUT /v1/txn?consistent",
                "PUT /v1/session/create",
                "PUT /v1/txn",
                "PUT /v1/txn",
                "PUT /v1/txn",
                "PUT /v1/session/destroy/s",
            ],
        );
        let notes = request_findings(&c);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes.first().is_some_and(|n| {
            n.starts_with("4 Consul transactions where the protocol minimum has 3")
        }));
    }

    #[test]
    fn lock_reads_around_the_acquire_are_told_apart() {
        let c = cost(
            &[],
            &[
                "GET /v1/kv/deploys/shop/stage/lock",
                "PUT /v1/kv/deploys/shop/stage/lock?acquire=s",
                "GET /v1/kv/deploys/shop/stage/lock",
            ],
        );
        let notes = request_findings(&c);
        assert_eq!(notes.len(), 2);
        assert!(
            notes
                .first()
                .is_some_and(|n| n.contains("before the `acquire`"))
        );
        assert!(
            notes
                .get(1)
                .is_some_and(|n| n.contains("after the `acquire`"))
        );
    }
}
