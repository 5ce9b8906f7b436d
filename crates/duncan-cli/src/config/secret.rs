//! A value that must never be printed: tokens, passwords, webhook URLs.

use std::fmt;

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
    fn describe_keeps_only_scheme_and_host_of_urls() {
        let s = Secret::new("https://user:pw@hooks.slack.com/services/T000/B000/XXXX".to_owned());
        assert_eq!(s.describe(), "https://hooks.slack.com/… (redacted)");
        assert_eq!(
            Secret::new("abcd".to_owned()).describe(),
            "<redacted, 4 characters>"
        );
    }
}
