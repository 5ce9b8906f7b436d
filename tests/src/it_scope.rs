//! What keeps the integration suite (`cargo xtask it`) safe against real services.
//!
//! The suite runs the same code against a real Consul / Marathon and against the simulators.
//! Against real services it must never touch anything it did not create, and it must leave
//! nothing behind. Two types make that hold:
//!
//! - [`Scope`]: one test's unique namespace, `duncan-it-` followed by 16 hex digits. Consul keys
//!   exist only under `{prefix}/`, user events are named `{prefix}-…`, Marathon group ids are
//!   `/{prefix}-…`. A prefix of any other form is refused ([`ScopeError::NotUnique`]), so an
//!   empty, short or hand-written prefix can never widen what a cleanup deletes. The scope
//!   records the groups and sessions it creates, and [`Scope::cleanup`] removes exactly those
//!   and the keys under its own prefix.
//! - [`Target`]: where the services are. `DUNCAN_IT_CONSUL_ADDR` / `DUNCAN_IT_MARATHON_URL`
//!   (set by `cargo xtask it` from its flags or from `CONSUL_HTTP_ADDR` / `MARATHON_URL`) name
//!   real services; otherwise consul-sim / marathon-sim start in-process on loopback ports.
//!   Only these two variables select a real service: a `CONSUL_HTTP_ADDR` left in a shell does
//!   not turn a plain `cargo nextest run` into a run against that Consul.
//!
//! ```
//! use duncan_tests::it_scope::Scope;
//!
//! let scope = Scope::generate();
//! assert!(scope.prefix().starts_with("duncan-it-"));
//! assert_eq!(scope.key("kv/a")?, format!("{}/kv/a", scope.prefix()));
//! assert_eq!(scope.group_id("web")?, format!("/{}-web", scope.prefix()));
//! assert!(Scope::parse("duncan-it").is_err());
//! # Ok::<(), duncan_tests::it_scope::ScopeError>(())
//! ```

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use consul_client::DeleteOptions;
use marathon_client::{Group, GroupUpdateOptions};

mod target;

pub use crate::address::{CONSUL_ADDR_VAR, MARATHON_URL_VAR};
pub use target::{Target, address_has_credentials, display_address};

/// Every prefix starts with this.
pub const PREFIX_STEM: &str = "duncan-it-";
/// How many lowercase hex digits follow [`PREFIX_STEM`].
pub const PREFIX_HEX_DIGITS: usize = 16;

/// Why a scope or a target refused, or a service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The prefix is not `duncan-it-` followed by 16 lowercase hex digits that look random.
    #[error(
        "refusing to run with prefix {prefix:?}: each run needs its own unique prefix, \
         `{PREFIX_STEM}` followed by {PREFIX_HEX_DIGITS} random lowercase hex digits, so that \
         it can never touch keys or groups it did not create"
    )]
    NotUnique {
        /// The prefix refused.
        prefix: String,
    },
    /// A name to place under the prefix would leave it or is not valid there.
    #[error("{what} {name:?} cannot go under the run's prefix: {why}")]
    BadName {
        /// What the name was for (`key`, `group name`, `event name`).
        what: &'static str,
        /// The name refused.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A Marathon group that this scope did not create (or that exists already).
    #[error("group {id:?} was not created by this run, so it is left alone")]
    NotOurs {
        /// The group id.
        id: String,
    },
    /// A Consul request failed.
    #[error("Consul: {context}")]
    Consul {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: consul_client::Error,
    },
    /// A Consul client could not be configured.
    #[error("Consul client configuration")]
    ConsulConfig(#[source] consul_client::ConfigError),
    /// A Marathon request failed.
    #[error("Marathon: {context}")]
    Marathon {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: marathon_client::Error,
    },
    /// A simulator could not be started.
    #[error("could not start {what}")]
    StartSim {
        /// Which simulator.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn consul_err(context: impl Into<String>) -> impl FnOnce(consul_client::Error) -> ScopeError {
    let context = context.into();
    move |source| ScopeError::Consul { context, source }
}

fn marathon_err(context: impl Into<String>) -> impl FnOnce(marathon_client::Error) -> ScopeError {
    let context = context.into();
    move |source| ScopeError::Marathon { context, source }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One test's namespace in Consul and Marathon, and the record of what it created there.
#[derive(Debug)]
pub struct Scope {
    prefix: String,
    groups: Mutex<Vec<String>>,
    sessions: Mutex<Vec<String>>,
}

/// What [`Scope::cleanup`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cleanup {
    /// The Marathon groups deleted (groups already gone are not listed).
    pub groups_deleted: Vec<String>,
    /// How many Consul sessions were destroyed (sessions already gone are not counted).
    pub sessions_destroyed: usize,
    /// The Consul key prefix deleted recursively, `{prefix}/`.
    pub key_prefix: String,
}

impl Scope {
    /// A fresh scope whose prefix mixes the wall clock, the process id and a random number,
    /// so that concurrent runs (and the tests of one run) never share one.
    pub fn generate() -> Scope {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Folding the 128-bit nanosecond count keeps its fast-moving low bits.
        let clock = (nanos as u64) ^ ((nanos >> 64) as u64);
        let pid = u64::from(std::process::id());
        let mut rng = fastrand::Rng::with_seed(clock ^ pid.rotate_left(32));
        let mut bits = rng.u64(..) ^ fastrand::u64(..);
        // A value with too few distinct digits would be refused by `parse`; draw again.
        loop {
            let prefix = format!("{PREFIX_STEM}{bits:016x}");
            if let Ok(scope) = Scope::parse(&prefix) {
                return scope;
            }
            bits = fastrand::u64(..);
        }
    }

    /// A scope for `prefix`, refused unless it has the form a generated prefix has:
    /// `duncan-it-` followed by 16 lowercase hex digits with at least four distinct digits
    /// (so `duncan-it-0000000000000000` and other hand-made values are refused).
    ///
    /// # Errors
    /// [`ScopeError::NotUnique`] for anything else.
    pub fn parse(prefix: &str) -> Result<Scope, ScopeError> {
        let refuse = || ScopeError::NotUnique {
            prefix: prefix.to_owned(),
        };
        let hex = prefix.strip_prefix(PREFIX_STEM).ok_or_else(refuse)?;
        let well_formed = hex.len() == PREFIX_HEX_DIGITS
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(refuse());
        }
        let mut distinct: Vec<u8> = hex.bytes().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 4 {
            return Err(refuse());
        }
        Ok(Scope {
            prefix: prefix.to_owned(),
            groups: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
        })
    }

    /// The prefix, `duncan-it-` and 16 hex digits.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Consul key prefix everything of this scope lives under: `{prefix}/`. The slash
    /// matters: without it a recursive delete would also take `{prefix}0/…` of another run.
    pub fn key_prefix(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The Consul key `{prefix}/{name}`.
    ///
    /// # Errors
    /// [`ScopeError::BadName`] when `name` is empty, starts with `/`, or has an empty, `.` or
    /// `..` segment.
    pub fn key(&self, name: &str) -> Result<String, ScopeError> {
        let bad = |why| ScopeError::BadName {
            what: "key",
            name: name.to_owned(),
            why,
        };
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return Err(bad("it has an empty, '.' or '..' segment"));
        }
        Ok(format!("{}/{name}", self.prefix))
    }

    /// The user event name `{prefix}-{name}` (`name`: lowercase letters, digits, `-`).
    ///
    /// # Errors
    /// [`ScopeError::BadName`] when `name` is empty or has other characters.
    pub fn event_name(&self, name: &str) -> Result<String, ScopeError> {
        check_id_part("event name", name)?;
        Ok(format!("{}-{name}", self.prefix))
    }

    /// The Marathon group id `/{prefix}-{name}` (`name`: lowercase letters, digits, `-`,
    /// neither first nor last a `-`, as Marathon ids require).
    ///
    /// # Errors
    /// [`ScopeError::BadName`] when `name` is not such a name.
    pub fn group_id(&self, name: &str) -> Result<String, ScopeError> {
        check_id_part("group name", name)?;
        Ok(format!("/{}-{name}", self.prefix))
    }

    /// Whether `key` lies under this scope's key prefix.
    pub fn owns_key(&self, key: &str) -> bool {
        key.starts_with(&self.key_prefix())
    }

    /// Whether `id` is one of this scope's group ids or lies inside one.
    pub fn owns_group_id(&self, id: &str) -> bool {
        let top = id.trim_start_matches('/').split('/').next().unwrap_or("");
        top.strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|name| check_id_part("group name", name).is_ok())
    }

    /// Creates `group` in Marathon (`PUT /v2/groups/{id}`) and records it for cleanup.
    ///
    /// # Errors
    /// [`ScopeError::NotOurs`] when the id is not one of this scope's, or the group exists
    /// already (then someone else made it and it must not be deleted by us);
    /// [`ScopeError::Marathon`] when Marathon refuses.
    pub async fn create_group(
        &self,
        marathon: &marathon_client::Client,
        group: &Group,
    ) -> Result<marathon_client::DeploymentRef, ScopeError> {
        let not_ours = || ScopeError::NotOurs {
            id: group.id.clone(),
        };
        if !self.owns_group_id(&group.id) || group.id.trim_start_matches('/').contains('/') {
            return Err(not_ours());
        }
        match marathon.group(&group.id, &[]).await {
            Ok(_) => return Err(not_ours()),
            Err(marathon_client::Error::NotFound { .. }) => {}
            Err(e) => return Err(marathon_err(format!("checking {} is free", group.id))(e)),
        }
        // Recorded before the PUT: a request that times out may still have created it.
        lock(&self.groups).push(group.id.clone());
        marathon
            .update_group(group, GroupUpdateOptions::default())
            .await
            .map_err(marathon_err(format!("creating group {}", group.id)))
    }

    /// Records a Consul session this scope created, so that cleanup destroys it if the test
    /// did not.
    pub fn record_session(&self, id: &str) {
        lock(&self.sessions).push(id.to_owned());
    }

    /// The group ids this scope created, oldest first.
    pub fn created_groups(&self) -> Vec<String> {
        lock(&self.groups).clone()
    }

    /// Removes what this scope created and nothing else: the groups it created (force-deleted,
    /// newest first; one already gone is fine), the sessions it recorded, and every key under
    /// `{prefix}/`.
    ///
    /// # Errors
    /// The first failure; the remaining steps are still attempted, so one failure does not
    /// leave the rest behind.
    pub async fn cleanup(
        &self,
        consul: &consul_client::Client,
        marathon: &marathon_client::Client,
    ) -> Result<Cleanup, ScopeError> {
        let mut first_error = None;
        let mut done = Cleanup {
            key_prefix: self.key_prefix(),
            ..Cleanup::default()
        };
        let groups: Vec<String> = lock(&self.groups).drain(..).rev().collect();
        for id in groups {
            if !self.owns_group_id(&id) {
                // Unreachable through create_group; kept so no future path can widen it.
                first_error.get_or_insert(ScopeError::NotOurs { id });
                continue;
            }
            match marathon.delete_group(&id, true).await {
                Ok(_) => done.groups_deleted.push(id),
                Err(marathon_client::Error::NotFound { .. }) => {}
                Err(e) => {
                    first_error.get_or_insert(marathon_err(format!("deleting group {id}"))(e));
                }
            }
        }
        let sessions: Vec<String> = lock(&self.sessions).drain(..).collect();
        for id in sessions {
            match consul.session().destroy(&id).await {
                Ok(true) => done.sessions_destroyed += 1,
                Ok(false) | Err(consul_client::Error::NotFound { .. }) => {}
                Err(e) => {
                    first_error.get_or_insert(consul_err("destroying a session")(e));
                }
            }
        }
        if let Err(e) = consul
            .kv()
            .delete(&done.key_prefix, &DeleteOptions::recurse())
            .await
        {
            first_error.get_or_insert(consul_err(format!("deleting {}", done.key_prefix))(e));
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

/// Checks one Marathon id segment (also used for event names).
fn check_id_part(what: &'static str, name: &str) -> Result<(), ScopeError> {
    let bad = |why| ScopeError::BadName {
        what,
        name: name.to_owned(),
        why,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("only lowercase letters, digits and '-' are allowed"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(bad("it may not start or end with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_prefixes_parse_and_differ() {
        let a = Scope::generate();
        let b = Scope::generate();
        assert!(Scope::parse(a.prefix()).is_ok());
        assert_ne!(a.prefix(), b.prefix());
        assert_eq!(a.prefix().len(), PREFIX_STEM.len() + PREFIX_HEX_DIGITS);
    }

    #[test]
    fn prefixes_not_of_the_generated_form_are_refused() {
        for bad in [
            "",
            "duncan-it-",
            "duncan-it",
            "deploys",
            "duncan-it-0123",
            "duncan-it-0123456789ABCDEF",
            "duncan-it-0000000000000000",
            "duncan-it-0101010101010101",
            "duncan-it-0123456789abcdef0",
            "duncan-it-0123456789abcde/",
            "xduncan-it-0123456789abcdef",
        ] {
            let refused = Scope::parse(bad);
            assert!(
                matches!(refused, Err(ScopeError::NotUnique { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn names_that_would_leave_the_prefix_are_refused() {
        let scope = Scope::generate();
        for bad in ["", "/abs", "a/../../b", "a//b", "./a", "a/"] {
            assert!(scope.key(bad).is_err(), "key {bad:?} accepted");
        }
        for bad in ["", "Web", "a/b", "-a", "a-", "a_b", "a.b"] {
            assert!(scope.group_id(bad).is_err(), "group {bad:?} accepted");
        }
    }

    #[test]
    fn ownership_is_exact_to_the_prefix() {
        let scope = Scope::parse("duncan-it-0123456789abcdef").expect("valid");
        assert!(scope.owns_key("duncan-it-0123456789abcdef/a"));
        assert!(!scope.owns_key("duncan-it-0123456789abcdef"));
        assert!(!scope.owns_key("duncan-it-0123456789abcdef0/a"));
        assert!(scope.owns_group_id("/duncan-it-0123456789abcdef-web"));
        assert!(scope.owns_group_id("/duncan-it-0123456789abcdef-web/app"));
        assert!(!scope.owns_group_id("/duncan-it-0123456789abcdef"));
        assert!(!scope.owns_group_id("/duncan-it-0123456789abcdef0-web"));
        assert!(!scope.owns_group_id("/shop-production"));
    }
}
