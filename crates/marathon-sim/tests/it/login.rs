//! DC/OS's service-account login endpoint: the RS256 login token checked against the configured
//! public key, IAM's refusals, and the tokens it issues.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use marathon_sim::{MarathonSim, SimOptions};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use crate::support::*;

/// A PKCS#8 RSA key from `openssl`, with its public key in PEM.
fn key_pair() -> (RsaKeyPair, String) {
    let pem = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("openssl runs")
        .stdout;
    let pem = String::from_utf8(pem).expect("PEM");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = RsaKeyPair::from_pkcs8(&STANDARD.decode(body).expect("base64")).expect("RSA key");
    let spki = Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(pem.as_bytes())?;
            child.wait_with_output()
        })
        .expect("openssl runs")
        .stdout;
    (key, String::from_utf8(spki).expect("PEM"))
}

fn login_token(key: &RsaKeyPair, uid: &str, exp: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"uid": uid, "exp": exp}).to_string());
    let signed = format!("{header}.{claims}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .expect("signed");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn in_five_minutes() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 300
}

async fn log_in(client: &reqwest::Client, sim: &MarathonSim, body: &Value) -> (u16, Value) {
    let res = client
        .post(format!("{}/acs/api/v1/auth/login", sim.url()))
        .json(body)
        .send()
        .await
        .expect("answered");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn issued_token_opens_the_api_and_stops_after_its_uses() {
    let (key, public_key) = key_pair();
    let (sim, client) = start(
        SimOptions::default()
            .login_public_key(public_key)
            .login_token_uses(1),
    )
    .await;

    let (status, answer) = log_in(
        &client,
        &sim,
        &json!({"uid": "ci", "token": login_token(&key, "ci", in_five_minutes())}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["token"].as_str().expect("a token").to_owned();

    let info = |token: String| {
        let client = client.clone();
        let url = format!("{}/v2/info", sim.url());
        async move {
            let res = client
                .get(url)
                .header("Authorization", format!("token={token}"))
                .send()
                .await
                .expect("answered");
            res.status().as_u16()
        }
    };
    assert_eq!(info(token.clone()).await, 200);
    assert_eq!(info(token).await, 401, "one use only");
    assert_eq!(sim.control().logins(), 1);
}

#[tokio::test]
async fn login_token_signed_by_another_key_or_expired_is_refused_as_iam_does() {
    let (_, public_key) = key_pair();
    let (other, _) = key_pair();
    let (sim, client) = start(SimOptions::default().login_public_key(public_key)).await;

    let (status, answer) = log_in(
        &client,
        &sim,
        &json!({"uid": "ci", "token": login_token(&other, "ci", in_five_minutes())}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(answer["code"], "ERR_INVALID_SERVICE_ACCOUNT_CREDENTIALS");
    assert_eq!(answer["title"], "Unauthorized");

    let (status, answer) = log_in(&client, &sim, &json!({"uid": "ci"})).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(sim.control().logins(), 0);
}

#[tokio::test]
async fn expired_login_token_is_refused() {
    let (key, public_key) = key_pair();
    let (sim, client) = start(SimOptions::default().login_public_key(public_key)).await;

    let (status, answer) = log_in(
        &client,
        &sim,
        &json!({"uid": "ci", "token": login_token(&key, "ci", 1)}),
    )
    .await;

    assert_eq!(status, 401);
    assert_eq!(answer["description"], "The login token has expired.");
}

#[tokio::test]
async fn login_key_that_is_not_a_public_key_fails_the_start() {
    let error = MarathonSim::start(SimOptions::default().login_public_key("not a key"))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
