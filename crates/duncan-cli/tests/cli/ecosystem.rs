//! Settings and logins where DC/OS and Docker users already keep them: the dcos CLI's attached
//! cluster, a DC/OS service account (logged in at marathon-sim's login endpoint, which verifies
//! the signed login token), and Docker's credential helpers (a helper program the test writes).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, run_async};

/// A fresh RSA key pair from `openssl`: (private key PEM as DC/OS writes it, public key PEM).
fn rsa_key_pair() -> (String, String) {
    let private = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
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
    (
        String::from_utf8(private.stdout).expect("PEM"),
        String::from_utf8(public.stdout).expect("PEM"),
    )
}

/// `~/.dcos/clusters/{id}/dcos.toml`, attached, as `dcos cluster setup` leaves it.
fn write_attached_cluster(home: &Path, id: &str, toml: &str) {
    let cluster = home.join(".dcos").join("clusters").join(id);
    std::fs::create_dir_all(&cluster).expect("cluster dir");
    std::fs::write(cluster.join("dcos.toml"), toml).expect("dcos.toml");
    std::fs::write(cluster.join("attached"), "").expect("attached");
}

/// The statuses Marathon's API (not the login endpoint) answered, in order.
fn marathon_statuses(sims: &Sims) -> Vec<u16> {
    sims.marathon
        .control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/service/marathon/v2"))
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn dcos_cli_attached_cluster_gives_marathon_and_its_token() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().token("acs-token-from-dcos"),
    )
    .await;
    let home = Home::with_config(&format!(
        "consul_url: {}\napps: [dogfood]\n",
        sims.consul_url()
    ));
    write_attached_cluster(
        home.path(),
        "7c3a-cluster-id",
        &format!(
            "[core]\ndcos_url = \"{}\"\ndcos_acs_token = \"acs-token-from-dcos\"\n\
             ssl_verify = \"true\"\n[cluster]\nname = \"shop\"\n",
            sims.marathon_url()
        ),
    );

    let mut show = home.duncan();
    show.args(["config", "show"]);
    let shown = run_async(show).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let row = |name: &str| {
        shown
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {}", shown.stdout))
            .to_owned()
    };
    assert!(
        row("marathon_url").contains("/service/marathon")
            && row("marathon_url").contains("dcos CLI: core.dcos_url in"),
        "{}",
        shown.stdout
    );
    assert!(
        row("marathon_token").contains("dcos CLI: core.dcos_acs_token"),
        "{}",
        shown.stdout
    );
    assert!(
        !shown.stdout.contains("acs-token-from-dcos"),
        "{}",
        shown.stdout
    );

    let mut status = home.duncan();
    status.args(["status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;
    // Marathon was reached with the token: it says the group does not exist.
    assert!(
        run.stderr.contains("Marathon has no group /dogfood-stage"),
        "{}",
        run.stderr
    );
    let statuses = marathon_statuses(&sims);
    assert!(
        !statuses.is_empty() && !statuses.contains(&401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn service_account_logs_in_renews_expired_tokens_and_never_shows_its_key() {
    let (private_key, public_key) = rsa_key_pair();
    // Each token serves one request, so every further request renews it by logging in again.
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options()
            .login_public_key(public_key)
            .login_token_uses(1),
    )
    .await;
    let home = Home::with_config(&format!(
        "consul_url: {}\nmarathon_url: {}/service/marathon\napps: [dogfood]\n",
        sims.consul_url(),
        sims.marathon_url()
    ));
    let credential = home.path().join("sa.json");
    std::fs::write(
        &credential,
        serde_json::json!({
            "scheme": "RS256",
            "uid": "ci-deployer",
            "private_key": private_key,
            "login_endpoint": format!("{}/acs/api/v1/auth/login", sims.marathon_url()),
        })
        .to_string(),
    )
    .expect("credential written");
    let variable = format!("file://{}", credential.display());

    let mut show = home.duncan();
    show.env("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &variable)
        .args(["config", "show"]);
    let shown = run_async(show).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l.contains("marathon_service_account")
                && l.contains("sa.json")
                && l.contains("env DCOS_SERVICE_ACCOUNT_CREDENTIAL")),
        "{}",
        shown.stdout
    );

    let mut status = home.duncan();
    status
        .env("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &variable)
        .args(["-vv", "status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;
    assert!(
        run.stderr.contains("Marathon has no group /dogfood-stage"),
        "{}",
        run.stderr
    );
    assert!(sims.marathon.control().logins() >= 1);
    let statuses = marathon_statuses(&sims);
    assert_eq!(statuses.last(), Some(&404), "{statuses:?}");

    let key_line = private_key.lines().nth(1).expect("a key line");
    for text in [&shown.stdout, &shown.stderr, &run.stdout, &run.stderr] {
        assert!(
            !text.contains(key_line),
            "the private key was shown: {text}"
        );
        assert!(!text.contains("sim-token-"), "a token was shown: {text}");
    }
}

#[tokio::test]
async fn unreadable_service_account_credential_says_which_file_and_where_it_was_named() {
    let home = Home::with_config(
        "consul_url: http://127.0.0.1:9\nmarathon_url: http://127.0.0.1:9\napps: [dogfood]\n",
    );
    let credential = home.path().join("sa.json");
    std::fs::write(
        &credential,
        r#"{"uid":"ci","private_key":"s3cret-garbage","login_endpoint":"http://127.0.0.1:9/"}"#,
    )
    .expect("written");

    let mut status = home.duncan();
    status
        .env("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &credential)
        .args(["status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;

    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sa.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("DCOS_SERVICE_ACCOUNT_CREDENTIAL"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret-garbage"), "{}", run.stderr);
}

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A registry on a loopback port that speaks plain HTTP only (a TLS handshake is answered with
/// a plain-HTTP 400, as Go's server answers it) and serves `HEAD /v2/myorg/dogfood/manifests/v2`
/// only to basic auth `user:password`. Returns `host:port` and the `Authorization` headers seen.
async fn basic_auth_registry(
    user: &str,
    password: &str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let expected = expected.clone();
            let record = std::sync::Arc::clone(&record);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 2048];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                    if request.first() == Some(&0x16) {
                        let _ = socket
                            .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                            .await;
                        return;
                    }
                    if request.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&request).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let authorization = head
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                            .map(|(_, value)| value.trim().to_owned())
                    })
                    .unwrap_or_default();
                record.lock().expect("lock").push(authorization.clone());
                let response = if authorization != expected {
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"registry\"\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                } else if line.starts_with("HEAD /v2/myorg/dogfood/manifests/v2 ") {
                    format!(
                        "HTTP/1.1 200 OK\r\nDocker-Content-Digest: {DIGEST}\r\n\
                         Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_credential_helper_gives_the_registry_login_for_the_image_check() {
    use std::os::unix::fs::PermissionsExt as _;
    let (registry, seen) = basic_auth_registry("robot", "helper-s3cret").await;
    let sims = Sims::start().await;
    let prefix = format!("{registry}/myorg");
    sims.seed_group_from(&prefix, "dogfood", "stage", "v1")
        .await;
    // No insecure_registries: a loopback registry falls back to plain HTTP, as Docker's does.
    let home = Home::with_config(&format!(
        "consul_url: {}\nmarathon_url: {}\ndocker_repo_prefix: {prefix}\n",
        sims.consul_url(),
        sims.marathon_url()
    ));
    let docker = home.path().join("docker-conf");
    std::fs::create_dir(&docker).expect("docker dir");
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{}},"credHelpers":{{"{registry}":"duncantest"}}}}"#),
    )
    .expect("config.json");
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let helper = bin.join("docker-credential-duncantest");
    std::fs::write(
        &helper,
        "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\necho \"$server\" > \"$0.asked\"\n\
         echo '{\"ServerURL\":\"'\"$server\"'\",\"Username\":\"robot\",\"Secret\":\"helper-s3cret\"}'\n",
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let mut cmd = home.duncan();
    cmd.env("DOCKER_CONFIG", &docker)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args([
            "deploy",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "-t",
            "v2",
            "--dry-run",
        ]);
    let out = run_async(cmd).await;

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(DIGEST), "{}", out.stdout);
    let asked = std::fs::read_to_string(bin.join("docker-credential-duncantest.asked"))
        .expect("the helper was run");
    assert_eq!(asked.trim(), registry);
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .any(|a| a.starts_with("Basic ")),
        "the helper's login reached the registry"
    );
    assert!(!out.stdout.contains("helper-s3cret") && !out.stderr.contains("helper-s3cret"));
}

#[tokio::test]
async fn service_account_unknown_to_dcos_is_refused_naming_where_it_was_configured() {
    let (_, public_key) = rsa_key_pair();
    let (other_private_key, _) = rsa_key_pair();
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().login_public_key(public_key),
    )
    .await;
    let home = Home::new();
    let credential = home.path().join("sa.json");
    std::fs::write(
        &credential,
        serde_json::json!({
            "scheme": "RS256",
            "uid": "ci-deployer",
            "private_key": other_private_key,
            "login_endpoint": format!("{}/acs/api/v1/auth/login", sims.marathon_url()),
        })
        .to_string(),
    )
    .expect("credential written");
    home.write_config(
        &format!(
            "consul_url: {}\nmarathon_url: {}\nmarathon_service_account: {}\napps: [dogfood]\n",
            sims.consul_url(),
            sims.marathon_url(),
            credential.display()
        ),
        0o600,
    );

    let mut status = home.duncan();
    status.args(["status", "-a", "dogfood", "-e", "stage"]);
    let run = run_async(status).await;

    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("service account `ci-deployer` could not log in"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("file: marathon_service_account"),
        "{}",
        run.stderr
    );
    let key_line = other_private_key.lines().nth(1).expect("a key line");
    assert!(!run.stderr.contains(key_line) && !run.stdout.contains(key_line));
    assert!(
        marathon_statuses(&sims).is_empty(),
        "nothing reached Marathon"
    );
}
