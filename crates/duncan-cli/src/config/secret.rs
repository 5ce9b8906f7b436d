//! A value that must never be printed: tokens, passwords, webhook URLs; and the one helper that
//! takes credentials out of URLs before they are shown.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// The user-info part of every URL: `scheme://` then everything up to the last `@` before the
/// path, query, fragment or a space (a raw `@` in a password ends at the last one). No `(?i)`:
/// the binary's regex has no `unicode-case` feature (only tests unify it in), so a
/// case-insensitive pattern would compile in tests and panic in the shipped binary.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^\s/?#@]*(?:@[^\s/?#@]*)*)@")
        .expect("a valid regex")
});

/// `text` with the credentials of every URL in it hidden: `http://admin:PW@host` is shown as
/// `http://admin:***@host`, and `https://TOKEN@host` (a lone user name may be a token) as
/// `https://***@host`. Every address the CLI prints goes through here: `config show`, the
/// explanations of unreachable services and refused certificates, and refused addresses.
pub fn redact_url(text: &str) -> Cow<'_, str> {
    USERINFO.replace_all(text, |caps: &regex::Captures<'_>| {
        let scheme = &caps[1];
        match caps[2].split_once(':') {
            Some((user, _)) if !user.is_empty() => format!("{scheme}{user}:***@"),
            _ => format!("{scheme}***@"),
        }
    })
}

/// A secret string. `Debug` and `Display` show `<redacted>`; only [`Secret::expose`] gives the
/// value, for the one place that puts it in a header or body.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, to be put in a header or a body and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A safe description for `config show`: the URL's scheme and host for URLs, else the length.
    pub fn describe(&self) -> String {
        if let Some((scheme, rest)) = self.0.split_once("://") {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or(host);
            return format!("{scheme}://{host}/… (redacted)");
        }
        format!("<redacted, {} characters>", self.0.chars().count())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("s3cr3t-token".to_owned());
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
    }

    #[test]
    fn redact_url_hides_passwords_and_lone_user_names() {
        assert_eq!(
            redact_url("http://admin:PW@127.0.0.1:8080/v2"),
            "http://admin:***@127.0.0.1:8080/v2"
        );
        assert_eq!(redact_url("https://TOKEN@h/x"), "https://***@h/x");
        assert_eq!(redact_url("http://:PW@h"), "http://***@h");
        assert_eq!(redact_url("http://a:p@ss@h/"), "http://a:***@h/");
        assert_eq!(
            redact_url("cannot use `http://u:p1@a` nor http://u:p2@b: refused"),
            "cannot use `http://u:***@a` nor http://u:***@b: refused"
        );
        // Addresses without credentials, and @ in paths or prose, are left alone.
        for plain in [
            "http://127.0.0.1:8500",
            "https://h/path@v1",
            "https://h?who=a@b",
            "mail admin@example.com",
        ] {
            assert_eq!(redact_url(plain), plain);
        }
    }

    #[test]
    fn describe_keeps_only_scheme_and_host_of_urls() {
        let s = Secret::new("https://user:pw@hooks.slack.com/services/T000/B000/XXXX".to_owned());
        assert_eq!(s.describe(), "https://hooks.slack.com/… (redacted)");
        assert_eq!(
            Secret::new("abcd".to_owned()).describe(),
            "<redacted, 4 characters>"
        );
    }
}
