//! Image references, parsed as Docker parses them.
//!
//! The grammar follows the distribution project's reference grammar, with Docker's normalisation
//! on top: a reference without a registry host means Docker Hub, and a single-component name on
//! Docker Hub lives under `library/`.

use std::fmt;
use std::str::FromStr;

/// The domain Docker uses to name Docker Hub in references.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";

/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_REGISTRY_HOST: &str = "registry-1.docker.io";

/// The longest repository name (domain included) Docker accepts.
const MAX_NAME_LENGTH: usize = 255;

/// The tag asked for when a reference names neither a tag nor a digest, as Docker does.
const DEFAULT_TAG: &str = "latest";

/// A parsed image reference such as `nginx`, `quay.io/team/app:v1.2` or
/// `localhost:5000/app@sha256:…`.
///
/// Parsing normalises the reference the way `docker pull` does:
///
/// ```
/// use registry_client::ImageReference;
///
/// let nginx: ImageReference = "nginx:1.27".parse()?;
/// assert_eq!(nginx.domain(), "docker.io");
/// assert_eq!(nginx.registry_host(), "registry-1.docker.io");
/// assert_eq!(nginx.repository(), "library/nginx");
/// assert_eq!(nginx.tag(), Some("1.27"));
///
/// let local: ImageReference = "localhost:5000/team/app".parse()?;
/// assert_eq!(local.registry_host(), "localhost:5000");
/// assert_eq!(local.repository(), "team/app");
/// assert_eq!(local.manifest_reference(), "latest");
/// # Ok::<(), registry_client::ReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    domain: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is the empty string.
    #[error("image reference is empty")]
    Empty,
    /// The repository part has upper-case letters, which Docker refuses.
    #[error("invalid image reference `{reference}`: repository name must be lowercase")]
    NotLowercase {
        /// The reference as given.
        reference: String,
    },
    /// The repository part does not follow Docker's path-component grammar.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidRepository {
        /// The reference as given.
        reference: String,
        /// What is wrong with the repository part.
        reason: &'static str,
    },
    /// The registry host (the first component) is not a valid host name, IP address or port.
    #[error("invalid registry host `{domain}` in image reference `{reference}`")]
    InvalidDomain {
        /// The reference as given.
        reference: String,
        /// The host part that failed to parse.
        domain: String,
    },
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid tag `{tag}` in image reference `{reference}`: a tag is 1 to 128 letters, digits, \
         `_`, `.` or `-`, and does not start with `.` or `-`"
    )]
    InvalidTag {
        /// The reference as given.
        reference: String,
        /// The tag that failed to parse.
        tag: String,
    },
    /// The digest is not `sha256:` with 64 lower-case hex digits (or `sha512:` with 128).
    #[error(
        "invalid digest `{digest}` in image reference `{reference}`: expected `sha256:` followed \
         by 64 lower-case hex digits"
    )]
    InvalidDigest {
        /// The reference as given.
        reference: String,
        /// The digest that failed to parse.
        digest: String,
    },
    /// The name (registry host and repository, as Docker normalises it: `nginx` is
    /// `docker.io/library/nginx`) is longer than Docker's limit of 255 characters.
    #[error(
        "invalid image reference: the name is {length} characters long as Docker normalises it \
         (registry host and repository, `docker.io/library/` included for a Docker Hub name); \
         Docker allows at most 255"
    )]
    NameTooLong {
        /// The length of the normalised name.
        length: usize,
    },
}

impl ImageReference {
    /// Parses `reference` as `docker pull` would, normalising Docker Hub names.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] naming the part that is wrong.
    pub fn parse(reference: &str) -> Result<Self, ReferenceError> {
        if reference.is_empty() {
            return Err(ReferenceError::Empty);
        }
        // Docker refuses a bare 64-hex string: it would be ambiguous with an image id.
        if reference.len() == 64 && is_lower_hex(reference) {
            return Err(invalid_repository(
                reference,
                "a 64-character hexadecimal string is an image id, not a repository name",
            ));
        }

        let (name_and_tag, digest) = match reference.split_once('@') {
            Some((left, digest)) => {
                if !is_valid_digest(digest) {
                    return Err(ReferenceError::InvalidDigest {
                        reference: reference.to_owned(),
                        digest: digest.to_owned(),
                    });
                }
                (left, Some(digest.to_owned()))
            }
            None => (reference, None),
        };

        // A `:` after the last `/` starts the tag; one before it belongs to a host:port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag
            .get(last_slash..)
            .and_then(|last| last.find(':'))
        {
            Some(colon) => {
                let at = last_slash + colon;
                let name = name_and_tag.get(..at).unwrap_or_default();
                let tag = name_and_tag.get(at + 1..).unwrap_or_default();
                if !is_valid_tag(tag) {
                    return Err(ReferenceError::InvalidTag {
                        reference: reference.to_owned(),
                        tag: tag.to_owned(),
                    });
                }
                (name, Some(tag.to_owned()))
            }
            None => (name_and_tag, None),
        };

        if name.is_empty() {
            return Err(invalid_repository(
                reference,
                "the repository name is empty",
            ));
        }

        let (domain, remainder) = split_domain(name);
        if !is_valid_domain(domain) {
            return Err(ReferenceError::InvalidDomain {
                reference: reference.to_owned(),
                domain: domain.to_owned(),
            });
        }
        if remainder.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::NotLowercase {
                reference: reference.to_owned(),
            });
        }
        validate_path(reference, remainder)?;

        let domain = if domain == "index.docker.io" {
            DOCKER_HUB_DOMAIN
        } else {
            domain
        };
        let repository = if domain == DOCKER_HUB_DOMAIN && !remainder.contains('/') {
            format!("library/{remainder}")
        } else {
            remainder.to_owned()
        };
        // Docker applies its limit to the normalised name (`docker.io/library/…`).
        let length = domain.len() + 1 + repository.len();
        if length > MAX_NAME_LENGTH {
            return Err(ReferenceError::NameTooLong { length });
        }
        Ok(Self {
            domain: domain.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry domain as Docker names it: `docker.io` for Docker Hub, else the host
    /// (with its port, if any) written in the reference.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The host (and port) that serves this image's registry API: `registry-1.docker.io` for
    /// Docker Hub, else the same as [`domain`](Self::domain).
    pub fn registry_host(&self) -> &str {
        if self.domain == DOCKER_HUB_DOMAIN {
            DOCKER_HUB_REGISTRY_HOST
        } else {
            &self.domain
        }
    }

    /// The repository path inside the registry, such as `library/nginx` or `team/app`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if the reference names one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What goes after `/manifests/` in the registry API: the digest when there is one (it pins
    /// the content, as Docker does), else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageReference {
    /// Writes the fully qualified form, such as `docker.io/library/nginx:1.27`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn invalid_repository(reference: &str, reason: &'static str) -> ReferenceError {
    ReferenceError::InvalidRepository {
        reference: reference.to_owned(),
        reason,
    }
}

/// Splits off the registry host the way Docker does: the first component is a host when it
/// has a `.` or a `:`, is `localhost`, or has upper-case letters (a repository never does).
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB_DOMAIN, name),
    }
}

/// `host[:port]` where host is dot-separated labels or a bracketed IPv6 address.
fn is_valid_domain(domain: &str) -> bool {
    if let Some(after_bracket) = domain.strip_prefix('[') {
        let Some((v6, rest)) = after_bracket.split_once(']') else {
            return false;
        };
        return v6.parse::<std::net::Ipv6Addr>().is_ok()
            && (rest.is_empty() || rest.strip_prefix(':').is_some_and(is_valid_port));
    }
    let (host, port_ok) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, is_valid_port(port)),
        None => (domain, true),
    };
    port_ok && !host.is_empty() && host.split('.').all(is_valid_label)
}

fn is_valid_port(port: &str) -> bool {
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// Each `/`-separated component is `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn validate_path(reference: &str, path: &str) -> Result<(), ReferenceError> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(invalid_repository(
                reference,
                "the repository has an empty path component",
            ));
        }
        if !is_valid_component(component) {
            return Err(invalid_repository(
                reference,
                "a repository path component is lower-case letters and digits, separated by \
                 `.`, `_`, `__` or `-`",
            ));
        }
    }
    Ok(())
}

fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while let Some(b) = bytes.get(i) {
        if is_alnum(b) {
            while bytes.get(i).is_some_and(is_alnum) {
                i += 1;
            }
            expect_alnum = false;
            continue;
        }
        if expect_alnum {
            return false;
        }
        // A separator: `.`, `_`, `__` or one or more `-`.
        match b {
            b'.' => i += 1,
            b'_' => {
                i += if bytes.get(i + 1) == Some(&b'_') {
                    2
                } else {
                    1
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        expect_alnum = true;
    }
    !expect_alnum
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    tag.len() <= 128
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `sha256:` + 64 lower-case hex digits, or `sha512:` + 128: the algorithms registries verify.
pub(crate) fn is_valid_digest(digest: &str) -> bool {
    match digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64 && is_lower_hex(hex),
        Some(("sha512", hex)) => hex.len() == 128 && is_lower_hex(hex),
        _ => false,
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
