//! DC/OS's login endpoint, `POST /acs/api/v1/auth/login`, for service accounts: the body
//! `{"uid":…,"token":JWT}` carries an RS256 token signed with the account's private key; the
//! answer `{"token":…}` is the authentication token then sent as `Authorization: token=…`.
//! Refusals are IAM's `{"title","description","code"}` with 401.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use super::reply::json_response;
use crate::lock;

/// The path DC/OS serves the login at (at the cluster's root, not under Marathon's prefix).
pub(crate) const LOGIN_PATH: &str = "/acs/api/v1/auth/login";

/// The service-account logins the simulator accepts, and the tokens it issued.
pub(crate) struct LoginAuthority {
    /// The accounts' public key, as PKCS#1 `RSAPublicKey` DER.
    public_key: Vec<u8>,
    /// How many requests an issued token is good for; `None`: without end.
    token_uses: Option<u64>,
    /// Issued token → requests it may still authorise.
    issued: Mutex<HashMap<String, Option<u64>>>,
    logins: Mutex<u64>,
}

impl LoginAuthority {
    /// From a public key in PEM: `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo, as `openssl rsa
    /// -pubout` and `dcos security org service-accounts keypair` write it) or `BEGIN RSA PUBLIC
    /// KEY` (PKCS#1).
    pub(crate) fn from_pem(pem: &str, token_uses: Option<u64>) -> Result<Self, String> {
        let (label, der) = pem_block(pem).ok_or("the public key is not PEM")?;
        let public_key = match label {
            "RSA PUBLIC KEY" => der,
            "PUBLIC KEY" => spki_key(&der).ok_or("the public key is not an RSA key")?,
            other => return Err(format!("a PEM `{other}` is not a public key")),
        };
        Ok(LoginAuthority {
            public_key,
            token_uses,
            issued: Mutex::new(HashMap::new()),
            logins: Mutex::new(0),
        })
    }

    /// Whether `token` is one this simulator issued and may still use; counts the use.
    pub(crate) fn accept(&self, token: &str) -> bool {
        let mut issued = lock(&self.issued);
        match issued.get_mut(token) {
            Some(None) => true,
            Some(Some(0)) | None => false,
            Some(Some(left)) => {
                *left -= 1;
                true
            }
        }
    }

    /// Makes every token issued so far invalid, as when they expire.
    pub(crate) fn expire_tokens(&self) {
        for left in lock(&self.issued).values_mut() {
            *left = Some(0);
        }
    }

    /// Successful logins so far.
    pub(crate) fn logins(&self) -> u64 {
        *lock(&self.logins)
    }

    /// Answers a login request.
    pub(crate) fn login(&self, body: &[u8]) -> Response {
        match self.verify(body) {
            Ok(()) => {
                let mut logins = lock(&self.logins);
                *logins += 1;
                let token = format!("sim-token-{}-{:016x}", *logins, fastrand::u64(..));
                lock(&self.issued).insert(token.clone(), self.token_uses);
                json_response(StatusCode::OK, &json!({ "token": token }))
            }
            Err(description) => json_response(
                StatusCode::UNAUTHORIZED,
                &json!({
                    "title": "Unauthorized",
                    "description": description,
                    "code": "ERR_INVALID_SERVICE_ACCOUNT_CREDENTIALS",
                }),
            ),
        }
    }

    fn verify(&self, body: &[u8]) -> Result<(), &'static str> {
        let body: Value = serde_json::from_slice(body).map_err(|_| "Request body is not JSON.")?;
        let uid = body["uid"].as_str().ok_or("Request has no uid.")?;
        let jwt = body["token"]
            .as_str()
            .ok_or("Request has neither a password nor a token.")?;
        let invalid = "Invalid authentication credentials (login token).";
        let mut parts = jwt.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid);
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| invalid)?;
        if header["alg"] != "RS256" {
            return Err(invalid);
        }
        let signed = &jwt[..jwt.len() - signature.len() - 1];
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(signed.as_bytes(), &decode(signature)?)
            .map_err(|_| invalid)?;
        let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|_| invalid)?;
        if claims["uid"] != uid {
            return Err(invalid);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match claims["exp"].as_u64() {
            Some(exp) if exp > now => Ok(()),
            _ => Err("The login token has expired."),
        }
    }
}

/// The label and content of the first PEM block of `text`.
fn pem_block(text: &str) -> Option<(&str, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body: String = rest[..end].lines().map(str::trim).collect();
    Some((label, STANDARD.decode(body).ok()?))
}

/// The `RSAPublicKey` inside a SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE { algorithm }, BIT STRING { 0, RSAPublicKey } }`.
fn spki_key(der: &[u8]) -> Option<Vec<u8>> {
    let (tag, outer, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _, rest) = tlv(outer)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, bits, _) = tlv(rest)?;
    if tag != 0x03 {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    (unused == 0).then(|| key.to_vec())
}

/// One DER element: its tag, its content and what follows it.
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_reads_short_and_long_lengths() {
        assert_eq!(tlv(&[0x30, 1, 9, 7]), Some((0x30, &[9u8][..], &[7u8][..])));
        let long = [&[0x04, 0x81, 0x80][..], &[1u8; 0x80][..]].concat();
        assert_eq!(tlv(&long).map(|(_, c, _)| c.len()), Some(0x80));
        assert_eq!(tlv(&[0x30, 5, 1]), None);
    }

    #[test]
    fn a_pem_that_is_not_a_public_key_is_refused() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----";
        assert!(LoginAuthority::from_pem(pem, None).is_err());
    }
}
