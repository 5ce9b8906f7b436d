//! Test support: a real CNCF distribution registry for tests: Debian's `docker-registry`, started on a free
//! loopback port with a temporary storage folder, and filled through its own HTTP API (blob
//! upload and manifest PUT), so no Docker engine is needed.
//!
//! ```no_run
//! use test_registry::{RegistryAuth, TestRegistry};
//!
//! let registry = TestRegistry::start(RegistryAuth::None)?;
//! let digest = registry.push_image("acme/shop", "v1")?;
//! println!("{}/acme/shop:v1 is {digest}", registry.host());
//! # anyhow::Ok(())
//! ```
//!
//! The methods are synchronous, and may be called from plain code as well as from inside an async
//! test: the registry's HTTP work runs on the launcher's own runtime, on its own threads.

//!
//! Without the default feature `server`, the crate is only [`registry_binary`] and its
//! constants: where the binary is, with no HTTP or runtime dependency.

mod binary;
#[cfg(feature = "server")]
mod server;

pub use binary::{BINARY_VARIABLE, PACKAGE, registry_binary};
#[cfg(feature = "server")]
pub use server::{ManifestFormat, RegistryAuth, TestRegistry, sha256_digest};
