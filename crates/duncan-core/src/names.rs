//! Validated names: applications, environments, image tags, environment-variable names, Marathon
//! group ids and the deployer identity.
//!
//! Every name that ends up in a Consul key or a Marathon URL passes through one of these types
//! first, so a value such as `../x` or `a/b` is a clear error before any request is made. The
//! Consul key layout (shared with the Go tool) is built only by [`AppEnv`], which is why no
//! accepted app/env pair can produce a key outside `deploys/{app}/{env}/`.
//!
//! ```
//! use duncan_core::names::{AppEnv, AppName, EnvName};
//!
//! let app: AppName = "web".parse()?;
//! let env: EnvName = "stage".parse()?;
//! let target = AppEnv::new(app, env);
//! assert_eq!(target.current_key(), "deploys/web/stage/current");
//! assert_eq!(target.history_key(7), "deploys/web/stage/history/00000000000000000007");
//! assert_eq!(target.group_id().as_str(), "/web-stage");
//! assert!("../etc".parse::<AppName>().is_err());
//! # Ok::<(), duncan_core::names::NameError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest accepted application or environment name (a DNS label, as Marathon ids are).
pub const MAX_APP_ENV_LEN: usize = 63;
/// The longest accepted Docker image tag.
pub const MAX_TAG_LEN: usize = 128;
/// The longest accepted environment-variable name (keeps Consul keys short).
pub const MAX_ENV_VAR_NAME_LEN: usize = 256;
/// The longest accepted deployer user or host part.
pub const MAX_DEPLOYER_PART_LEN: usize = 255;

/// Which kind of name failed validation; used in [`NameError`] messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// An application name.
    App,
    /// An environment name.
    Env,
    /// A Docker image tag.
    Tag,
    /// An environment-variable name.
    EnvVar,
    /// A Marathon group id.
    GroupId,
    /// A deployer identity (`user@host`).
    Deployer,
}

impl NameKind {
    /// A short noun for the kind, as used in error messages.
    fn noun(self) -> &'static str {
        match self {
            NameKind::App => "app name",
            NameKind::Env => "environment name",
            NameKind::Tag => "image tag",
            NameKind::EnvVar => "environment variable name",
            NameKind::GroupId => "Marathon group id",
            NameKind::Deployer => "deployer",
        }
    }

    /// What the kind accepts, as told to the user when a value is rejected.
    fn rule(self) -> &'static str {
        match self {
            NameKind::App | NameKind::Env => {
                "lowercase letters, digits and '-', starting with a letter, not ending with '-', \
                 at most 63 characters"
            }
            NameKind::Tag => {
                "letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 \
                 characters"
            }
            NameKind::EnvVar => {
                "letters, digits and '_', not starting with a digit, at most 256 characters"
            }
            NameKind::GroupId => {
                "'/' followed by '/'-separated segments of lowercase letters, digits, '-' and '.'"
            }
            NameKind::Deployer => {
                "'user@host' with a non-empty user and host, no '@' in the host, no control \
                 characters, each part at most 255 characters"
            }
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// A name was rejected; the message says what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The value was empty.
    #[error("{kind} must not be empty (allowed: {})", kind.rule())]
    Empty {
        /// The kind of name.
        kind: NameKind,
    },
    /// The value was longer than allowed.
    #[error("{kind} {value:?} is {len} characters long, more than {max} (allowed: {})", kind.rule())]
    TooLong {
        /// The kind of name.
        kind: NameKind,
        /// The rejected value, shortened if very long.
        value: String,
        /// Its length in characters.
        len: usize,
        /// The maximum length.
        max: usize,
    },
    /// The value contained a character that is not allowed at that position.
    #[error(
        "{kind} {value:?} has {found:?} at position {position}, which is not allowed there \
         (allowed: {})",
        kind.rule()
    )]
    InvalidChar {
        /// The kind of name.
        kind: NameKind,
        /// The rejected value, shortened if very long.
        value: String,
        /// The offending character.
        found: char,
        /// Its position (0-based, in characters).
        position: usize,
    },
    /// The value has the wrong overall shape (a missing separator, an empty part).
    #[error("{kind} {value:?} is malformed: {problem} (allowed: {})", kind.rule())]
    Malformed {
        /// The kind of name.
        kind: NameKind,
        /// The rejected value, shortened if very long.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Shortens a rejected value for an error message so a huge input cannot flood the terminal.
fn shown(value: &str) -> String {
    const SHOWN: usize = 80;
    if value.chars().count() <= SHOWN {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(SHOWN).collect();
        s.push('…');
        s
    }
}

fn check_len(kind: NameKind, value: &str, max: usize) -> Result<(), NameError> {
    let len = value.chars().count();
    if len == 0 {
        return Err(NameError::Empty { kind });
    }
    if len > max {
        return Err(NameError::TooLong {
            kind,
            value: shown(value),
            len,
            max,
        });
    }
    Ok(())
}

/// Checks each character with `first` for position 0 and `rest` afterwards.
fn check_chars(
    kind: NameKind,
    value: &str,
    first: impl Fn(char) -> bool,
    rest: impl Fn(char) -> bool,
) -> Result<(), NameError> {
    for (position, c) in value.chars().enumerate() {
        let ok = if position == 0 { first(c) } else { rest(c) };
        if !ok {
            return Err(NameError::InvalidChar {
                kind,
                value: shown(value),
                found: c,
                position,
            });
        }
    }
    Ok(())
}

fn validate_app_env(kind: NameKind, value: &str) -> Result<(), NameError> {
    check_len(kind, value, MAX_APP_ENV_LEN)?;
    check_chars(
        kind,
        value,
        |c| c.is_ascii_lowercase(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
    )?;
    if value.ends_with('-') {
        return Err(NameError::Malformed {
            kind,
            value: shown(value),
            problem: "it ends with '-'",
        });
    }
    Ok(())
}

fn validate_tag(value: &str) -> Result<(), NameError> {
    check_len(NameKind::Tag, value, MAX_TAG_LEN)?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    check_chars(NameKind::Tag, value, word, |c| {
        word(c) || c == '.' || c == '-'
    })
}

fn validate_env_var(value: &str) -> Result<(), NameError> {
    check_len(NameKind::EnvVar, value, MAX_ENV_VAR_NAME_LEN)?;
    check_chars(
        NameKind::EnvVar,
        value,
        |c| c.is_ascii_alphabetic() || c == '_',
        |c| c.is_ascii_alphanumeric() || c == '_',
    )
}

/// Implements `as_str`, `Display`, `FromStr`, `AsRef<str>` and string serde (validated on
/// deserialize) for a newtype over `String` with a validation function.
macro_rules! string_name {
    ($ty:ident, $validate:expr) => {
        impl $ty {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Validates `value` and wraps it.
            ///
            /// # Errors
            ///
            /// [`NameError`] describing what is wrong and what is allowed.
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                let validate: fn(&str) -> Result<(), NameError> = $validate;
                validate(&value)?;
                Ok(Self(value))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An application name: lowercase letters, digits and `-`, starting with a letter, not ending
/// with `-`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppName(String);
string_name!(AppName, |v| validate_app_env(NameKind::App, v));

/// An environment name (`stage`, `production`, …): the same rules as [`AppName`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);
string_name!(EnvName, |v| validate_app_env(NameKind::Env, v));

/// A Docker image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);
string_name!(Tag, validate_tag);

/// An environment-variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 256 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvVarName(String);
string_name!(EnvVarName, validate_env_var);

/// A Marathon group id such as `/web-stage`.
///
/// duncan's own groups are built with [`marathon_group_id`]; parsing accepts any absolute
/// Marathon path whose segments are lowercase letters, digits, `-` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(String);
string_name!(GroupId, validate_group_id);

fn validate_group_id(value: &str) -> Result<(), NameError> {
    let kind = NameKind::GroupId;
    // Marathon limits the path to what fits in its ZooKeeper node names; 255 is ample.
    check_len(kind, value, 255)?;
    let Some(rest) = value.strip_prefix('/') else {
        return Err(NameError::Malformed {
            kind,
            value: shown(value),
            problem: "it does not start with '/'",
        });
    };
    if rest.is_empty() {
        return Err(NameError::Malformed {
            kind,
            value: shown(value),
            problem: "it is the root group",
        });
    }
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(NameError::Malformed {
                kind,
                value: shown(value),
                problem: "it has an empty, '.' or '..' segment",
            });
        }
    }
    check_chars(
        kind,
        value,
        |c| c == '/',
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '/'),
    )
}

impl GroupId {
    /// The group duncan deploys for `app` in `env`: `/{app}-{env}`, as the Go tool's
    /// `MarathonGroupID`.
    pub fn for_app_env(app: &AppName, env: &EnvName) -> GroupId {
        // Both parts are validated, so the result is always a valid group id.
        GroupId(format!("/{app}-{env}"))
    }
}

/// The Marathon group id of `app` in `env`: `/{app}-{env}` (the Go tool's `MarathonGroupID`).
///
/// ```
/// # use duncan_core::names::{marathon_group_id, AppName, EnvName};
/// let id = marathon_group_id(&"api".parse()?, &"production".parse()?);
/// assert_eq!(id.to_string(), "/api-production");
/// # Ok::<(), duncan_core::names::NameError>(())
/// ```
pub fn marathon_group_id(app: &AppName, env: &EnvName) -> GroupId {
    GroupId::for_app_env(app, env)
}

/// One application in one environment, and the Consul keys that belong to it.
///
/// All keys live under [`AppEnv::prefix`] (`deploys/{app}/{env}/`), except the app's
/// environment variables under [`AppEnv::env_prefix`] (`env/{app}/{env}/`), the Go tool's layout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppEnv {
    /// The application.
    pub app: AppName,
    /// The environment.
    pub env: EnvName,
}

impl AppEnv {
    /// Pairs an application with an environment.
    pub fn new(app: AppName, env: EnvName) -> Self {
        AppEnv { app, env }
    }

    /// Validates and pairs an application name and an environment name.
    ///
    /// # Errors
    ///
    /// [`NameError`] for the first invalid name.
    pub fn parse(app: &str, env: &str) -> Result<Self, NameError> {
        Ok(AppEnv::new(app.parse()?, env.parse()?))
    }

    /// The prefix under which every duncan key of this app/env lives: `deploys/{app}/{env}/`.
    pub fn prefix(&self) -> String {
        format!("deploys/{}/{}/", self.app, self.env)
    }

    /// `deploys/{app}/{env}/current`: the tag now deployed.
    pub fn current_key(&self) -> String {
        format!("{}current", self.prefix())
    }

    /// `deploys/{app}/{env}/previous`: the tag deployed before the current one.
    pub fn previous_key(&self) -> String {
        format!("{}previous", self.prefix())
    }

    /// `deploys/{app}/{env}/lock`: the deploy lock, held through a Consul session.
    pub fn lock_key(&self) -> String {
        format!("{}lock", self.prefix())
    }

    /// `deploys/{app}/{env}/hold`: a deploy freeze set by `duncan lock hold` (no session).
    pub fn hold_key(&self) -> String {
        format!("{}hold", self.prefix())
    }

    /// `deploys/{app}/{env}/seq/`: the counters of the history's and the audit log's sequence
    /// numbers (added by duncan; the Go tool has neither).
    pub fn counters_prefix(&self) -> String {
        format!("{}seq/", self.prefix())
    }

    /// `deploys/{app}/{env}/seq/history`: the last sequence number used under `history/`.
    pub fn history_counter_key(&self) -> String {
        format!("{}history", self.counters_prefix())
    }

    /// `deploys/{app}/{env}/seq/events`: the last sequence number used under `events/`.
    pub fn events_counter_key(&self) -> String {
        format!("{}events", self.counters_prefix())
    }

    /// `deploys/{app}/{env}/acl_check`: the transient key of the permission probe.
    pub fn acl_check_key(&self) -> String {
        format!("{}acl_check", self.prefix())
    }

    /// `deploys/{app}/{env}/history/`: the prefix of the release history.
    pub fn history_prefix(&self) -> String {
        format!("{}history/", self.prefix())
    }

    /// `deploys/{app}/{env}/history/{seq:020}`: one release record. Zero-padding makes the
    /// lexical order of keys the numeric order of sequence numbers.
    pub fn history_key(&self, seq: u64) -> String {
        format!("{}{seq:020}", self.history_prefix())
    }

    /// `deploys/{app}/{env}/events/`: the prefix of the audit log.
    pub fn events_prefix(&self) -> String {
        format!("{}events/", self.prefix())
    }

    /// `deploys/{app}/{env}/events/{seq:020}`: one audit event.
    pub fn event_key(&self, seq: u64) -> String {
        format!("{}{seq:020}", self.events_prefix())
    }

    /// `env/{app}/{env}/`: the prefix of the app's environment variables.
    pub fn env_prefix(&self) -> String {
        format!("env/{}/{}/", self.app, self.env)
    }

    /// `env/{app}/{env}/{KEY}`: one environment variable of the app.
    pub fn env_key(&self, name: &EnvVarName) -> String {
        format!("{}{name}", self.env_prefix())
    }

    /// The Marathon group of this app/env: `/{app}-{env}`.
    pub fn group_id(&self) -> GroupId {
        GroupId::for_app_env(&self.app, &self.env)
    }
}

impl fmt::Display for AppEnv {
    /// Formats as `app/env`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.env)
    }
}

/// Parses the sequence number from a history or events key (`…/{seq:020}`), given its prefix.
///
/// Returns `None` for keys that are not directly under `prefix` or whose last part is not a
/// number, so stray keys written by hand are ignored rather than fatal.
pub fn sequence_from_key(prefix: &str, key: &str) -> Option<u64> {
    let rest = key.strip_prefix(prefix)?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// Who deploys: the local user and host, shown as `user@host`.
///
/// Serialized as the string `user@host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Deployer {
    user: String,
    host: String,
}

impl Deployer {
    /// Validates and pairs a user and a host name.
    ///
    /// # Errors
    ///
    /// [`NameError`] when either part is empty, too long or has control characters, or the host
    /// contains `@`.
    pub fn new(user: impl Into<String>, host: impl Into<String>) -> Result<Self, NameError> {
        let user = user.into();
        let host = host.into();
        for part in [&user, &host] {
            check_len(NameKind::Deployer, part, MAX_DEPLOYER_PART_LEN)?;
            check_chars(
                NameKind::Deployer,
                part,
                |c| !c.is_control(),
                |c| !c.is_control(),
            )?;
        }
        if let Some(position) = host.chars().position(|c| c == '@') {
            return Err(NameError::InvalidChar {
                kind: NameKind::Deployer,
                value: shown(&host),
                found: '@',
                position,
            });
        }
        Ok(Deployer { user, host })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The host name.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Deployer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.host)
    }
}

impl FromStr for Deployer {
    type Err = NameError;

    /// Parses `user@host`, splitting at the last `@` (a host never contains one).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((user, host)) = s.rsplit_once('@') else {
            return Err(NameError::Malformed {
                kind: NameKind::Deployer,
                value: shown(s),
                problem: "it has no '@'",
            });
        };
        Deployer::new(user, host)
    }
}

impl Serialize for Deployer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Deployer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_from_key_ignores_foreign_keys() {
        let p = "deploys/a/b/history/";
        assert_eq!(
            sequence_from_key(p, "deploys/a/b/history/00000000000000000042"),
            Some(42)
        );
        assert_eq!(sequence_from_key(p, "deploys/a/b/history/x"), None);
        assert_eq!(sequence_from_key(p, "deploys/a/b/history/"), None);
        assert_eq!(sequence_from_key(p, "deploys/a/b/history/1/2"), None);
        assert_eq!(sequence_from_key(p, "deploys/a/c/history/1"), None);
    }
}
