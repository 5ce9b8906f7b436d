//! ACL tokens with `key_prefix` rules, and the policy file the binary reads.

use std::collections::HashMap;

use serde::Deserialize;

/// What a `key_prefix` rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Access {
    /// Keys under the prefix may be read.
    Read,
    /// Keys under the prefix may be read and written.
    Write,
    /// Keys under the prefix may be neither read nor written.
    Deny,
}

impl Access {
    /// Precedence when one token has two rules for the same prefix: deny wins, then write.
    fn rank(self) -> u8 {
        match self {
            Access::Deny => 3,
            Access::Write => 2,
            Access::Read => 1,
        }
    }
}

/// A `key_prefix "PREFIX" { policy = "ACCESS" }` rule.
///
/// The longest matching prefix decides, as in Consul; a key no rule matches is denied.
///
/// ```
/// use consul_sim::{Access, Rule};
/// let rule = Rule { prefix: "deploys/app/prod/".into(), access: Access::Write };
/// assert_eq!(rule, Rule::new("deploys/app/prod/", Access::Write));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    /// The key prefix the rule covers (`""` covers every key).
    pub prefix: String,
    /// What the rule grants under the prefix.
    pub access: Access,
}

impl Rule {
    /// A rule granting `access` to keys under `prefix`.
    pub fn new(prefix: impl Into<String>, access: Access) -> Self {
        Rule {
            prefix: prefix.into(),
            access,
        }
    }
}

/// One token of a policy file.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyToken {
    /// The token's secret, as clients send it.
    pub secret: String,
    /// Its `key_prefix` rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// The policy file of `consul-sim --policy-file`: `{"tokens":[{"secret":…,"rules":[…]}]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyFile {
    /// Tokens and their rules.
    pub tokens: Vec<PolicyToken>,
}

/// A policy file that could not be understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not JSON of the documented shape.
    #[error("policy file is not valid: {0}")]
    Invalid(#[source] serde_json::Error),
}

impl PolicyFile {
    /// Parses the JSON policy file format documented at the crate root.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(text).map_err(PolicyError::Invalid)
    }
}

/// A known token: its rules and the accessor id shown by `acl/token/self`.
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub accessor_id: String,
    pub rules: Vec<Rule>,
    pub management: bool,
    pub create_index: u64,
    pub create_time: String,
}

/// The ACL table.
#[derive(Debug, Default)]
pub(crate) struct AclTable {
    pub enabled: bool,
    pub tokens: HashMap<String, TokenEntry>,
}

/// The outcome of resolving a request's token.
#[derive(Debug, Clone)]
pub(crate) enum Authz {
    /// ACLs off, or a management token: everything is allowed.
    All,
    /// A token with rules; `anonymous` when no token was sent in ACL mode.
    Rules { rules: Vec<Rule>, anonymous: bool },
}

/// The token a request named is not known (`403 ACL not found`).
#[derive(Debug)]
pub(crate) struct AclNotFound;

impl AclTable {
    /// Resolves the token of a request; `None` or `""` is the anonymous token.
    pub fn resolve(&self, token: Option<&str>) -> Result<Authz, AclNotFound> {
        if !self.enabled {
            return Ok(Authz::All);
        }
        match token.filter(|t| !t.is_empty()) {
            None => Ok(Authz::Rules {
                rules: Vec::new(),
                anonymous: true,
            }),
            Some(secret) => match self.tokens.get(secret) {
                Some(entry) if entry.management => Ok(Authz::All),
                Some(entry) => Ok(Authz::Rules {
                    rules: entry.rules.clone(),
                    anonymous: false,
                }),
                None => Err(AclNotFound),
            },
        }
    }
}

impl Authz {
    fn decide(&self, key: &str) -> Option<Access> {
        match self {
            Authz::All => Some(Access::Write),
            Authz::Rules { rules, .. } => {
                let mut best: Option<&Rule> = None;
                for rule in rules.iter().filter(|r| key.starts_with(&r.prefix)) {
                    best = match best {
                        Some(b) if b.prefix.len() > rule.prefix.len() => Some(b),
                        Some(b)
                            if b.prefix.len() == rule.prefix.len()
                                && b.access.rank() >= rule.access.rank() =>
                        {
                            Some(b)
                        }
                        _ => Some(rule),
                    };
                }
                best.map(|r| r.access)
            }
        }
    }

    /// `key:read` on `key`.
    pub fn key_read(&self, key: &str) -> bool {
        matches!(self.decide(key), Some(Access::Read | Access::Write))
    }

    /// `key:write` on `key`.
    pub fn key_write(&self, key: &str) -> bool {
        matches!(self.decide(key), Some(Access::Write))
    }

    /// Write on a whole prefix (recursive delete): the prefix must be writable and no longer
    /// rule inside it may grant less.
    pub fn key_write_prefix(&self, prefix: &str) -> bool {
        if !self.key_write(prefix) {
            return false;
        }
        match self {
            Authz::All => true,
            Authz::Rules { rules, .. } => rules
                .iter()
                .filter(|r| r.prefix.starts_with(prefix) && r.prefix.len() > prefix.len())
                .all(|r| r.access == Access::Write),
        }
    }

    /// Session and event rules are not modelled: every known token may use them, as if its
    /// policy held `session_prefix "" { policy = "write" }` and `event_prefix "" {…}`.
    pub fn non_key_write(&self) -> bool {
        match self {
            Authz::All => true,
            Authz::Rules { anonymous, .. } => !anonymous,
        }
    }

    /// Whether this is a management token (or ACLs are off).
    pub fn is_management(&self) -> bool {
        matches!(self, Authz::All)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authz(rules: Vec<Rule>) -> Authz {
        Authz::Rules {
            rules,
            anonymous: false,
        }
    }

    #[test]
    fn longest_prefix_decides() {
        let a = authz(vec![
            Rule::new("deploys/", Access::Read),
            Rule::new("deploys/a/", Access::Write),
            Rule::new("deploys/a/secret", Access::Deny),
        ]);
        assert!(a.key_read("deploys/b/x"));
        assert!(!a.key_write("deploys/b/x"));
        assert!(a.key_write("deploys/a/lock"));
        assert!(!a.key_read("deploys/a/secret/x"));
        assert!(!a.key_read("other"));
        assert!(!a.key_write_prefix("deploys/a/"));
        assert!(a.key_write_prefix("deploys/a/lo"));
    }

    #[test]
    fn policy_file_parses_documented_format() {
        let file = PolicyFile::from_json(
            r#"{"tokens":[{"secret":"s","rules":[{"prefix":"deploys/a/","access":"write"}]}]}"#,
        )
        .map_err(|e| e.to_string());
        let file = file.as_ref().map(|f| f.tokens.clone());
        assert_eq!(
            file.map(|t| t.first().map(|t| t.rules.clone())),
            Ok(Some(vec![Rule::new("deploys/a/", Access::Write)]))
        );
        assert!(
            PolicyFile::from_json(
                r#"{"tokens":[{"secret":"s","rules":[{"prefix":"x","access":"admin"}]}]}"#
            )
            .is_err()
        );
    }
}
