//! Async client for HashiCorp Consul's HTTP API: KV, transactions, sessions, locks, events.
