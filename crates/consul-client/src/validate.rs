//! Client-side checks that refuse input Consul would reject or mishandle, before anything is
//! sent.

use crate::error::InvalidInput;

/// Largest value Consul stores in one KV entry by default (`kv_max_value_size`, 512 KiB).
pub const MAX_VALUE_SIZE: usize = 512 * 1024;

/// Most operations Consul accepts in one transaction.
pub const MAX_TXN_OPS: usize = 128;

/// Largest transaction body Consul accepts by default (`txn_max_req_len`, 512 KiB).
pub const MAX_TXN_BODY: usize = 512 * 1024;

/// Whether an empty key is acceptable where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Empty {
    /// A single key: must not be empty (Consul answers 400 `Missing key name`).
    Refuse,
    /// A prefix that reads: empty means the whole store, which is fine.
    Allow,
}

/// Checks a KV key or prefix.
///
/// Refused: an empty single key; leading or trailing whitespace (invisible, and usually a
/// copy-paste slip); control characters; a leading `/` or an empty segment (`a//b`), since
/// Consul's HTTP router cleans such paths and redirects instead of answering; and `.` or `..`
/// segments, which the router resolves to another key.
pub(crate) fn key(key: &str, empty: Empty) -> Result<(), InvalidInput> {
    let bad = |reason: &'static str| InvalidInput::Key {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return match empty {
            Empty::Refuse => Err(bad("the key is empty")),
            Empty::Allow => Ok(()),
        };
    }
    if key.trim() != key {
        return Err(bad("leading or trailing whitespace"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("control characters"));
    }
    if key.starts_with('/') {
        return Err(bad("a leading '/'"));
    }
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            ".." => return Err(bad("a '..' segment")),
            "." => return Err(bad("a '.' segment")),
            // A trailing '/' is Consul's folder convention ("app/"); only inner ones are empty.
            "" if i != last => return Err(bad("an empty segment ('//')")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a value's size.
pub(crate) fn value(value: &[u8]) -> Result<(), InvalidInput> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(InvalidInput::ValueTooLarge {
            size: value.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    Ok(())
}

/// Checks a UUID-shaped identifier such as a session id before it goes into a URL path.
pub(crate) fn uuid(kind: &'static str, id: &str) -> Result<(), InvalidInput> {
    let bad = |reason: &'static str| InvalidInput::Name {
        kind,
        value: id.to_owned(),
        reason,
    };
    if id.is_empty() {
        return Err(bad("it is empty"));
    }
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(bad("expected a UUID"));
    }
    Ok(())
}

/// Checks a name used as one URL path segment (an event name).
pub(crate) fn name(kind: &'static str, name: &str) -> Result<(), InvalidInput> {
    let bad = |reason: &'static str| InvalidInput::Name {
        kind,
        value: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.trim() != name || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(bad("whitespace at either end, '/' or control characters"));
    }
    if name == "." || name == ".." {
        return Err(bad("'.' and '..' are not names"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_pass() {
        for k in ["a", "a/b/c", "folder/", "a.b/c-d_e", "x/.hidden", "a..b"] {
            assert_eq!(key(k, Empty::Refuse), Ok(()), "{k}");
        }
    }

    #[test]
    fn dot_dot_segments_are_refused() {
        for k in ["..", "a/../b", "a/..", "../a", "a/./b"] {
            assert!(key(k, Empty::Allow).is_err(), "{k}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_refused() {
        for k in [" a", "a ", "a\t", "\na"] {
            assert!(key(k, Empty::Allow).is_err(), "{k:?}");
        }
    }

    #[test]
    fn empty_key_is_refused_only_where_it_must_name_one_key() {
        assert!(key("", Empty::Refuse).is_err());
        assert_eq!(key("", Empty::Allow), Ok(()));
    }

    #[test]
    fn slashes_that_consul_would_redirect_are_refused() {
        assert!(key("/a", Empty::Refuse).is_err());
        assert!(key("a//b", Empty::Refuse).is_err());
    }

    #[test]
    fn values_over_512_kib_are_refused() {
        assert_eq!(value(&vec![0; MAX_VALUE_SIZE]), Ok(()));
        assert!(matches!(
            value(&vec![0; MAX_VALUE_SIZE + 1]),
            Err(InvalidInput::ValueTooLarge { size, .. }) if size == MAX_VALUE_SIZE + 1
        ));
    }

    #[test]
    fn session_ids_must_look_like_uuids() {
        assert_eq!(
            uuid("session id", "adf4238a-882b-9ddc-4a9d-5b6758e4159e"),
            Ok(())
        );
        assert!(uuid("session id", "../kv/x").is_err());
        assert!(uuid("session id", "").is_err());
    }
}
