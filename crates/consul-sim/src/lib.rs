//! An in-memory server that answers Consul's HTTP API (KV, txn, sessions, events, ACL) for tests.
