//! Async client for HashiCorp Consul's HTTP API: KV, transactions, sessions, locks, events.
//!
//! It follows Consul's own conventions: the address, token and TLS settings come from a
//! [`Config`] (or from Consul's environment variables with [`Config::from_env`]); the token
//! travels only in the `X-Consul-Token` header; every read takes [`QueryOptions`]
//! (consistency mode, blocking index and wait) and returns [`QueryMeta`]; reads are retried
//! on transient failures, writes are not retried once they may have reached Consul; input
//! Consul would refuse or mishandle is refused before anything is sent.
//!
//! | API | entry point |
//! | --- | --- |
//! | KV store | [`Client::kv`] → [`Kv`], and [`Kv::watch`] for change streams |
//! | Transactions | [`Client::txn`] with [`TxnOp`] |
//! | Sessions | [`Client::session`] → [`Session`], and [`SessionRenewer`] |
//! | Locks | [`Lock`] → [`HeldLock`] |
//! | User events | [`Client::event`] → [`Events`] |
//! | Status, ACL | [`Client::status`], [`Client::acl`] |
//!
//! # Example
//!
//! ```no_run
//! use consul_client::{Client, Config, PutOptions, QueryOptions, TxnOp};
//!
//! # async fn demo() -> Result<(), consul_client::Error> {
//! let client = Client::new(Config::new("http://127.0.0.1:8500")?.with_token("my-token"))?;
//!
//! // Create a key only if it does not exist yet, then read it back.
//! let created = client.kv().put("app/config", b"v1", &PutOptions::new().cas(0)).await?;
//! let (pair, meta) = client.kv().get("app/config", &QueryOptions::consistent()).await?;
//! println!("created: {created}, value: {:?}, index {}", pair.map(|p| p.value), meta.index);
//!
//! // Change two keys atomically, only if the first is unchanged.
//! if let Err(e) = client
//!     .txn(&[TxnOp::check_index("app/config", meta.index), TxnOp::set("app/other", b"x".to_vec())])
//!     .await
//! {
//!     eprintln!("not applied: {e}");
//! }
//! # Ok(()) }
//! ```

mod acl;
mod client;
mod config;
mod duration;
mod error;
mod event;
mod kv;
mod lock;
mod query;
mod renew;
mod session;
mod status;
mod tls;
mod txn;
mod validate;
pub mod watch;

pub use acl::{Acl, AclLink, AclToken};
pub use client::Client;
pub use config::{
    Config, DEFAULT_ADDRESS, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT, HttpAuth, RetryPolicy, env,
};
pub use error::{CertificateProblem, ConfigError, Error, InvalidInput, Result, TxnError};
pub use event::{EventFilter, Events, UserEvent};
pub use kv::{DeleteOptions, Kv, KvPair, PutOptions};
pub use lock::{
    AcquireMode, GO_API_LOCK_FLAGS, HeldLock, Lock, LockAttempt, LockLost, LockOptions,
};
pub use query::{Consistency, MAX_WAIT, QueryMeta, QueryOptions, next_index};
pub use renew::{SessionLost, SessionRenewer};
pub use session::{
    MAX_LOCK_DELAY, MAX_TTL, MIN_TTL, Session, SessionBehavior, SessionEntry, SessionRequest,
};
pub use status::Status;
pub use txn::{TxnOp, TxnResponse, encode_txn};
pub use validate::{MAX_TXN_BODY, MAX_TXN_OPS, MAX_VALUE_SIZE};
