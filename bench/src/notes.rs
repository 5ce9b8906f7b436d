//! "Where a target is missed, and why": findings read off the request log of one deploy, so
//! that a note disappears by itself once its cause is fixed.

use crate::deploys::Cost;

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
    let reads = count(consul, |r| r.starts_with("PUT /v1/txn?consistent"));
    let writes = count(consul, |r| r.starts_with("PUT /v1/txn")) - reads;
    let acquire_txn = usize::from(!consul.iter().any(|r| r.contains("acquire=")));
    let protocol_writes = 2 + acquire_txn;
    if writes > protocol_writes {
        notes.push(format!(
            "{writes} write transactions where the protocol has {protocol_writes} (the ACL \
             probe{}, and the release): the extra ones append audit events of their own, such \
             as `deploy_started` once Marathon accepted the update \
             (`duncan-core/src/deploy/consul.rs` `Finish::started` → \
             `duncan-core/src/audit/log.rs` `append`), beside the watch, each with the key \
             listing below. ({reads} more are the read-only transactions of the tags, plan and \
             re-read under the lock, as in the protocol.)",
            if acquire_txn == 1 { ", the lock" } else { "" }
        ));
    }
    let listings = count(consul, |r| r.starts_with("GET ") && r.contains("keys"));
    if listings > 0 {
        notes.push(format!(
            "{listings} key listings of `history/` and `events/`: every audit append \
             (`duncan-core/src/audit/log.rs` `append`) and the release commit \
             (`duncan-core/src/release/commit.rs` `commit_success`, both prefixes at once) list \
             the prefix to pick the next sequence number before their txn; pruning reuses that \
             listing. Sequence numbers that need no listing yet can neither collide nor \
             reorder (e.g. a counter key moved by `cas` in the same txn) would leave one txn \
             per record."
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
                 non-blocking read; it could start blocking at the index the `acquire` produced. \
                 Off the critical path, but counted."
            ));
        }
    }
    let snapshots = count(marathon, |r| r.starts_with("GET /v2/deployments"));
    if snapshots > 1 {
        notes.push(format!(
            "{snapshots} REST snapshots of the watch (each `GET /v2/deployments` plus one \
             `GET /v2/apps/{{id}}?embed=app.tasks` per changed app): `duncan-core/src/watch.rs` \
             `watch_deployment` reads at once when it starts, again 20–50 ms after step and task \
             events, and again after `deployment_success`. With a working event stream only the \
             last is needed to confirm; the others feed the progress display."
        ));
    }
    let groups = count(marathon, |r| r.starts_with("GET /v2/groups/"));
    if groups > 1 {
        notes.push(format!(
            "{groups} reads of the group: the plan, and the re-read under the lock that \
             DESIGN.md asks for (someone may have deployed while we waited); by design."
        ));
    }
    if count(consul, |r| r.contains("/v1/event/fire/")) > 0 {
        notes.push(
            "one `PUT /v1/event/fire/duncan-deploy`: the Consul user-event notifier of step 9, \
             after the lock is released; by design, off the critical path of the deploy."
                .to_owned(),
        );
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
