//! The integration suite's addresses: the variables that name real services, and how an
//! address is checked and shown without secrets. Needs only `url`, so xtask uses it without the
//! rest of the crate (`default-features = false`).

/// The variable naming a real Consul for the suite (an address as `CONSUL_HTTP_ADDR` takes).
pub const CONSUL_ADDR_VAR: &str = "DUNCAN_IT_CONSUL_ADDR";
/// The variable naming a real Marathon for the suite (a URL as `MARATHON_URL` takes).
pub const MARATHON_URL_VAR: &str = "DUNCAN_IT_MARATHON_URL";

/// An address fit to print: scheme, host, port and path, without user info, query or fragment
/// (where a careless URL might carry a secret). An address without a scheme is shown as
/// `http://…`, as Consul's tools read it.
pub fn display_address(raw: &str) -> String {
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    match url::Url::parse(&with_scheme) {
        Ok(mut url) => {
            // Both setters fail only for URLs that cannot have credentials; nothing to hide then.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "<an address that does not parse>".to_owned(),
    }
}

/// Whether an address carries credentials in its user info (`http://user:secret@host`).
pub fn address_has_credentials(raw: &str) -> bool {
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    url::Url::parse(&with_scheme)
        .is_ok_and(|url| !url.username().is_empty() || url.password().is_some())
}
