//! `WWW-Authenticate` challenges (RFC 7235), as registries send them.

use std::collections::BTreeMap;

/// One challenge: a scheme and its parameters (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: BTreeMap<String, String>,
}

impl Challenge {
    pub(crate) fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in one header value, such as
/// `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`.
/// Malformed parts end the parse; what was read before them is kept.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut parser = Parser {
        rest: header.as_bytes(),
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        parser.skip_separators();
        let Some(token) = parser.token() else {
            break;
        };
        parser.skip_spaces();
        if parser.peek() == Some(b'=') {
            // A parameter of the current challenge.
            parser.advance();
            parser.skip_spaces();
            let value = if parser.peek() == Some(b'"') {
                parser.quoted()
            } else {
                parser.token()
            };
            let (Some(value), Some(current)) = (value, challenges.last_mut()) else {
                break;
            };
            current.params.insert(token.to_ascii_lowercase(), value);
        } else {
            challenges.push(Challenge {
                scheme: token,
                params: BTreeMap::new(),
            });
        }
    }
    challenges
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn advance(&mut self) {
        self.rest = self.rest.get(1..).unwrap_or_default();
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.advance();
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.advance();
        }
    }

    /// An RFC 7230 token (plus `/` and `:`, which some servers leave unquoted in values).
    fn token(&mut self) -> Option<String> {
        let len = self
            .rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(b))
            .count();
        if len == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(String::from_utf8_lossy(token).into_owned())
    }

    /// A quoted string with `\` escapes; `None` when the closing quote is missing.
    fn quoted(&mut self) -> Option<String> {
        self.advance();
        let mut value = Vec::new();
        loop {
            let byte = self.peek()?;
            self.advance();
            match byte {
                b'"' => return Some(String::from_utf8_lossy(&value).into_owned()),
                b'\\' => {
                    value.push(self.peek()?);
                    self.advance();
                }
                other => value.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_parameters_are_read() {
        let challenges = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(challenges.len(), 1);
        let bearer = &challenges[0];
        assert!(bearer.is("bearer"));
        assert_eq!(bearer.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(bearer.param("service"), Some("registry.docker.io"));
        assert_eq!(bearer.param("scope"), Some("repository:library/nginx:pull"));
    }

    #[test]
    fn several_challenges_and_escapes_are_split() {
        let challenges =
            parse_challenges(r#"Basic realm="a \"quoted\", realm", Bearer realm=x,error=invalid"#);
        assert_eq!(challenges.len(), 2);
        assert!(challenges[0].is("Basic"));
        assert_eq!(challenges[0].param("realm"), Some(r#"a "quoted", realm"#));
        assert!(challenges[1].is("Bearer"));
        assert_eq!(challenges[1].param("realm"), Some("x"));
        assert_eq!(challenges[1].param("error"), Some("invalid"));
    }

    #[test]
    fn unterminated_quote_keeps_what_was_read() {
        let challenges = parse_challenges(r#"Bearer service=s,realm="https://x"#);
        assert_eq!(challenges.len(), 1);
        assert_eq!(challenges[0].param("service"), Some("s"));
        assert_eq!(challenges[0].param("realm"), None);
    }
}
