//! DC/OS service-account logins against marathon-sim's login endpoint, which verifies the
//! RS256 login token against the account's public key: the login, the token it gives, the one
//! renewal when Marathon refuses an expired token, and what is never shown.

use std::io::Write as _;
use std::process::{Command, Stdio};

use futures_util::StreamExt as _;
use marathon_client::{Client, Config, Error, Event, EventStreamOptions, ServiceAccount};
use marathon_sim::{MarathonSim, SimOptions};

/// A fresh RSA key pair from `openssl`: (private key PEM, public key PEM). `pkcs1` writes the
/// private key as `BEGIN RSA PRIVATE KEY`, as DC/OS's own key tool does; else PKCS#8.
pub fn rsa_key_pair(pkcs1: bool) -> (String, String) {
    let mut generate = Command::new("openssl");
    if pkcs1 {
        generate.args(["genrsa", "-traditional", "2048"]);
    } else {
        generate.args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ]);
    }
    let private = generate
        .stderr(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(private.status.success(), "openssl made a key");
    let mut public = Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    public
        .stdin
        .take()
        .expect("stdin")
        .write_all(&private.stdout)
        .expect("key written");
    let public = public.wait_with_output().expect("openssl ends");
    assert!(public.status.success(), "openssl wrote the public key");
    (
        String::from_utf8(private.stdout).expect("PEM"),
        String::from_utf8(public.stdout).expect("PEM"),
    )
}

async fn sim_with_login(public_key: &str, token_uses: Option<u64>) -> MarathonSim {
    let mut options = SimOptions::default().login_public_key(public_key);
    if let Some(uses) = token_uses {
        options = options.login_token_uses(uses);
    }
    MarathonSim::start(options).await.expect("sim starts")
}

fn client(sim: &MarathonSim, uid: &str, private_key: &str) -> Client {
    let account = ServiceAccount::new(
        uid,
        private_key,
        &format!("{}/acs/api/v1/auth/login", sim.url()),
    )
    .expect("a valid service account");
    let config = Config::new(&format!("{}/service/marathon", sim.url()))
        .expect("valid URL")
        .with_service_account(account);
    Client::new(config).expect("client")
}

fn login_requests(sim: &MarathonSim) -> usize {
    sim.control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "/acs/api/v1/auth/login")
        .count()
}

fn authorizations(sim: &MarathonSim) -> Vec<String> {
    sim.control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/service/marathon"))
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(name, _)| name == "authorization")
                .map(|(_, value)| value.clone())
        })
        .collect()
}

#[tokio::test]
async fn service_account_logs_in_once_and_sends_the_token_it_got() {
    let (private_key, public_key) = rsa_key_pair(false);
    let sim = sim_with_login(&public_key, None).await;
    let client = client(&sim, "ci-deployer", &private_key);

    client.info().await.expect("logged in");
    client
        .deployments()
        .await
        .expect("the same token serves again");

    assert_eq!(sim.control().logins(), 1);
    let sent = authorizations(&sim);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|a| a.starts_with("token=sim-token-1-")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn pkcs1_private_key_as_dcos_writes_it_logs_in() {
    let (private_key, public_key) = rsa_key_pair(true);
    assert!(private_key.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let sim = sim_with_login(&public_key, None).await;

    client(&sim, "ci", &private_key)
        .info()
        .await
        .expect("logged in with a PKCS#1 key");
    assert_eq!(sim.control().logins(), 1);
}

#[tokio::test]
async fn expired_token_is_renewed_by_logging_in_again_and_the_request_succeeds() {
    let (private_key, public_key) = rsa_key_pair(false);
    let sim = sim_with_login(&public_key, None).await;
    let client = client(&sim, "ci", &private_key);
    client.info().await.expect("logged in");

    sim.control().expire_login_tokens();
    client.info().await.expect("logged in again after the 401");

    assert_eq!(sim.control().logins(), 2);
    let statuses: Vec<u16> = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/v2/info"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn token_refused_right_after_a_fresh_login_is_unauthorized_after_one_renewal() {
    let (private_key, public_key) = rsa_key_pair(false);
    // Tokens that authorise nothing: every request is refused as if its token had expired.
    let sim = sim_with_login(&public_key, Some(0)).await;

    let error = client(&sim, "ci", &private_key)
        .info()
        .await
        .expect_err("Marathon refuses every token");

    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    assert_eq!(sim.control().logins(), 2, "one login, one renewal, no loop");
}

#[tokio::test]
async fn event_stream_renews_an_expired_token() {
    let (private_key, public_key) = rsa_key_pair(false);
    let sim = sim_with_login(&public_key, None).await;
    let client = client(&sim, "ci", &private_key);
    client.info().await.expect("logged in");
    sim.control().expire_login_tokens();

    let mut events = client
        .events(&EventStreamOptions::new())
        .await
        .expect("subscribed after logging in again");
    let first = events.next().await.expect("an item").expect("no error");

    assert!(matches!(first, Event::EventStreamAttached(_)), "{first:?}");
    assert_eq!(sim.control().logins(), 2);
}

#[tokio::test]
async fn unknown_key_is_a_login_error_that_never_shows_the_key() {
    let (_, public_key) = rsa_key_pair(false);
    let (other_private_key, _) = rsa_key_pair(false);
    let sim = sim_with_login(&public_key, None).await;
    let client = client(&sim, "ci", &other_private_key);

    let error = client
        .info()
        .await
        .expect_err("the signature is not the account's");

    assert!(matches!(error, Error::Login { .. }), "{error:?}");
    let shown = format!("{error}\n{error:?}\n{client:?}");
    assert!(shown.contains("`ci`"), "{shown}");
    assert!(shown.contains("401"), "{shown}");
    let key_line = other_private_key.lines().nth(1).expect("a key line");
    assert!(!shown.contains(key_line), "{shown}");
    assert!(
        authorizations(&sim).is_empty(),
        "nothing was sent to Marathon"
    );
    assert_eq!(login_requests(&sim), 1);
}

#[tokio::test]
async fn dcos_credential_json_is_read_as_dcos_writes_it() {
    let (private_key, public_key) = rsa_key_pair(true);
    let sim = sim_with_login(&public_key, None).await;
    let credential = serde_json::json!({
        "scheme": "RS256",
        "uid": "ci",
        "private_key": private_key,
        "login_endpoint": format!("{}/acs/api/v1/auth/login", sim.url()),
    })
    .to_string();

    let account = ServiceAccount::from_credential_json(&credential).expect("DC/OS's JSON");
    assert_eq!(account.uid(), "ci");
    assert!(!format!("{account:?}").contains(private_key.lines().nth(1).expect("line")));
    let config = Config::new(&sim.url())
        .expect("url")
        .with_service_account(account);
    Client::new(config)
        .expect("client")
        .info()
        .await
        .expect("logged in");
}

#[tokio::test]
async fn unreachable_login_endpoint_fails_a_change_as_a_login_error_not_an_unknown_outcome() {
    let (private_key, public_key) = rsa_key_pair(false);
    let sim = sim_with_login(&public_key, None).await;
    // Nothing listens on port 9 of the loopback address.
    let account = ServiceAccount::new(
        "ci",
        &private_key,
        "http://127.0.0.1:9/acs/api/v1/auth/login",
    )
    .expect("a valid service account");
    let config = Config::new(&sim.url())
        .expect("url")
        .with_service_account(account);
    let client = Client::new(config).expect("client");

    let error = client
        .cancel_deployment("d1")
        .await
        .expect_err("the login cannot be made");

    assert!(matches!(error, Error::Login { .. }), "{error:?}");
    assert!(
        sim.control().requests().is_empty(),
        "nothing reached Marathon"
    );
}
