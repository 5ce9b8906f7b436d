//! The JSON bodies the client sends, pinned. (consul-sim's request log keeps no bodies, so the
//! public request types are serialized exactly as the client sends them.)

use std::time::Duration;

use consul_client::{SessionBehavior, SessionRequest, TxnOp, encode_txn};

const SID: &str = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";

fn pinned(name: &str, value: &serde_json::Value) {
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_json_snapshot!(name, value);
    });
}

#[test]
fn txn_body_for_every_verb() {
    let ops = [
        TxnOp::check_session("app/lock", SID),
        TxnOp::check_index("app/current", 41),
        TxnOp::check_not_exists("app/history/00000000000000000007"),
        TxnOp::set("app/current", b"v2".to_vec()),
        TxnOp::cas("app/previous", b"v1".to_vec(), 40).with_flags(3),
        TxnOp::lock("app/lock", b"{\"user\":\"ann\"}".to_vec(), SID),
        TxnOp::unlock("app/lock", Vec::new(), SID),
        TxnOp::get("app/current"),
        TxnOp::get_tree("app/history/"),
        TxnOp::delete("app/acl_check"),
        TxnOp::delete_tree("app/tmp/"),
        TxnOp::delete_cas("app/old", 12),
    ];
    let body = encode_txn(&ops).expect("valid");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    pinned("txn_body", &json);
}

#[test]
fn session_create_body() {
    let req = SessionRequest::new("deploy web/prod by ann@host")
        .ttl(Duration::from_secs(30))
        .lock_delay(Duration::from_secs(15))
        .behavior(SessionBehavior::Release)
        .checks(Vec::new());
    let json = serde_json::to_value(&req).expect("json");
    pinned("session_create_body", &json);
}
