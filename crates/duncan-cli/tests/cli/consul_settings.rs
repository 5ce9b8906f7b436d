//! Consul's own settings through the real binary, against consul-sim as the peer: its HTTPS
//! mode requiring client certificates (Consul's `verify_incoming`), its request log for what
//! duncan sends, and a Unix socket in front of it. Certificates come from `test_tls`'s CA (the
//! `openssl` command) for each test.

use consul_sim::{SimOptions, TlsFiles};
use test_tls::{ServerCertificate, SubjectAltName, TestCa, Validity};

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, Run, run_async};

const LOCK_STATUS: [&str; 6] = ["lock", "status", "-a", "dogfood", "-e", "stage"];

/// The sims, Consul on HTTPS with a certificate of `ca` for `name`, requiring client
/// certificates of `ca` when `mutual`.
async fn https_sims(ca: &TestCa, name: SubjectAltName, mutual: bool) -> Sims {
    let leaf = ca
        .issue(&[name], Validity::Current)
        .expect("server certificate");
    let mut files = TlsFiles::new(leaf.certificate_path(), leaf.key_path());
    if mutual {
        files = files.require_client_certificates(ca.certificate_path());
    }
    Sims::start_with(SimOptions::default().tls(files), marathon_options()).await
}

/// A configuration file naming Marathon only, so that Consul's settings come from elsewhere.
fn marathon_only(sims: &Sims, more: &str) -> Home {
    Home::with_config(&format!(
        "marathon_url: {}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n{more}",
        sims.marathon_url()
    ))
}

async fn duncan(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = home.duncan();
    cmd.args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_async(cmd).await
}

fn shown(path: &std::path::Path) -> String {
    path.display().to_string()
}

fn client_files(ca: &TestCa) -> (ServerCertificate, String, String) {
    let me = ca.issue_client().expect("client certificate");
    let (cert, key) = (shown(me.certificate_path()), shown(me.key_path()));
    (me, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_from_consuls_variables_is_accepted_by_a_verify_incoming_consul() {
    let ca = TestCa::new().expect("CA");
    let sims = https_sims(&ca, SubjectAltName::loopback(), true).await;
    let home = marathon_only(&sims, "");
    let (_me, cert, key) = client_files(&ca);
    let addr = sims.consul.addr().to_string();

    let out = duncan(
        &home,
        &LOCK_STATUS,
        &[
            ("CONSUL_HTTP_ADDR", &addr),
            ("CONSUL_HTTP_SSL", "t"),
            ("CONSUL_CACERT", &shown(&ca.certificate_path())),
            ("CONSUL_CLIENT_CERT", &cert),
            ("CONSUL_CLIENT_KEY", &key),
        ],
    )
    .await;

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("dogfood/stage is free"),
        "{}",
        out.stdout
    );
    assert!(sims.consul.control().request_count() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_from_the_files_keys_is_accepted_too() {
    let ca = TestCa::new().expect("CA");
    let sims = https_sims(&ca, SubjectAltName::loopback(), true).await;
    let (_me, cert, key) = client_files(&ca);
    let home = marathon_only(
        &sims,
        &format!(
            "consul_url: {}\nconsul_cacert: {}\nconsul_client_cert: {cert}\nconsul_client_key: {key}\n",
            sims.consul_url(),
            shown(&ca.certificate_path())
        ),
    );

    let out = duncan(&home, &LOCK_STATUS, &[]).await;

    assert_eq!(out.code, 0, "{}", out.stderr);
    let show = duncan(&home, &["config", "show"], &[]).await;
    assert!(
        show.stdout
            .lines()
            .any(|l| l.starts_with("consul_client_key")
                && l.contains(&key)
                && l.ends_with("file: consul_client_key")),
        "{}",
        show.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_certificate_the_refusal_names_consul_client_cert_and_key() {
    let ca = TestCa::new().expect("CA");
    let sims = https_sims(&ca, SubjectAltName::loopback(), true).await;
    let home = marathon_only(&sims, "");

    let out = duncan(
        &home,
        &LOCK_STATUS,
        &[
            ("CONSUL_HTTP_ADDR", &sims.consul_url()),
            ("CONSUL_CACERT", &shown(&ca.certificate_path())),
        ],
    )
    .await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("requires a client certificate")
            && out
                .stderr
                .contains("CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY"),
        "{}",
        out.stderr
    );
    assert_eq!(sims.consul.control().request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_name_key_verifies_consuls_certificate_against_that_name() {
    let ca = TestCa::new().expect("CA");
    let name = SubjectAltName::dns("server.dc1.consul").expect("name");
    let sims = https_sims(&ca, name, false).await;
    let home = marathon_only(
        &sims,
        &format!(
            "consul_url: {}\nconsul_cacert: {}\nconsul_tls_server_name: server.dc1.consul\n",
            sims.consul_url(),
            shown(&ca.certificate_path())
        ),
    );

    let out = duncan(&home, &LOCK_STATUS, &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The variable wins over the key, as every Consul variable does.
    let out = duncan(
        &home,
        &LOCK_STATUS,
        &[("CONSUL_TLS_SERVER_NAME", "other.dc1.consul")],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("certificate") && out.stderr.contains("not issued for the host name"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_partition_and_http_auth_are_sent_as_consul_sends_them() {
    // consul-sim answers as Consul's open-source edition does: namespaces are refused, after
    // the request (and what it carried) has been logged.
    let sims = Sims::start().await;
    let home = marathon_only(&sims, "consul_partition: part\n");

    let out = duncan(
        &home,
        &LOCK_STATUS,
        &[
            ("CONSUL_HTTP_ADDR", &sims.consul_url()),
            ("CONSUL_NAMESPACE", "team"),
            ("CONSUL_HTTP_AUTH", "ops:S3CRET"),
        ],
    )
    .await;

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Namespaces are a Consul Enterprise feature"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("S3CRET"), "{}", out.stderr);
    let requests = sims.consul.control().requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(
            request.path_and_query.contains("ns=team&partition=part"),
            "{}",
            request.path_and_query
        );
        // "ops:S3CRET" in base64.
        assert_eq!(
            request.header("authorization"),
            Some("Basic b3BzOlMzQ1JFVA==")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_names_each_consul_variable_and_hides_the_auth_password() {
    let home = Home::new();
    let vars = [
        ("CONSUL_HTTP_ADDR", "consul.example:8501"),
        ("CONSUL_HTTP_SSL", "t"),
        ("CONSUL_HTTP_SSL_VERIFY", "F"),
        ("CONSUL_HTTP_AUTH", "ops:S3CRET"),
        ("CONSUL_CAPATH", "/etc/consul/cas"),
        ("CONSUL_CLIENT_CERT", "/etc/consul/me.pem"),
        ("CONSUL_CLIENT_KEY", "/etc/consul/me.key"),
        ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul"),
        ("CONSUL_NAMESPACE", "team"),
        ("CONSUL_PARTITION", "part"),
    ];
    for json in [false, true] {
        let args: &[&str] = if json {
            &["config", "show", "--json"]
        } else {
            &["config", "show"]
        };
        let out = duncan(&home, args, &vars).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!out.stdout.contains("S3CRET"), "{}", out.stdout);
        for (setting, value, source) in [
            (
                "consul_url",
                "https://consul.example:8501",
                "CONSUL_HTTP_ADDR",
            ),
            ("consul_ssl_verify", "false", "CONSUL_HTTP_SSL_VERIFY"),
            (
                "consul_http_auth",
                "user ops, password redacted",
                "CONSUL_HTTP_AUTH",
            ),
            ("consul_capath", "/etc/consul/cas", "CONSUL_CAPATH"),
            (
                "consul_client_cert",
                "/etc/consul/me.pem",
                "CONSUL_CLIENT_CERT",
            ),
            (
                "consul_client_key",
                "/etc/consul/me.key",
                "CONSUL_CLIENT_KEY",
            ),
            (
                "consul_tls_server_name",
                "server.dc1.consul",
                "CONSUL_TLS_SERVER_NAME",
            ),
            ("consul_namespace", "team", "CONSUL_NAMESPACE"),
            ("consul_partition", "part", "CONSUL_PARTITION"),
        ] {
            let found = if json {
                let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
                doc["settings"].as_array().is_some_and(|rows| {
                    rows.iter().any(|r| {
                        r["name"] == setting
                            && r["value"] == value
                            && r["source"] == format!("env {source}")
                    })
                })
            } else {
                out.stdout.lines().any(|l| {
                    l.starts_with(setting)
                        && l.contains(value)
                        && l.ends_with(&format!("env {source}"))
                })
            };
            assert!(found, "{setting} = {value} from {source}:\n{}", out.stdout);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_consul_http_ssl_is_a_usage_error_naming_it() {
    let home = Home::new();

    let out = duncan(&home, &["config", "show"], &[("CONSUL_HTTP_SSL", "yes")]).await;

    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("invalid value \"yes\" for CONSUL_HTTP_SSL"),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_address_reaches_consul() {
    let sims = Sims::start().await;
    let home = marathon_only(&sims, "");
    let socket = home.path().join("consul.sock");
    // The agent's socket: each connection passed on to the sim's TCP port.
    let listener = tokio::net::UnixListener::bind(&socket).expect("bind the socket");
    let backend = sims.consul.addr();
    let proxy = tokio::spawn(async move {
        while let Ok((mut unix, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut tcp) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut unix, &mut tcp).await;
                }
            });
        }
    });
    let address = format!("unix://{}", shown(&socket));

    let out = duncan(&home, &LOCK_STATUS, &[("CONSUL_HTTP_ADDR", &address)]).await;

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(sims.consul.control().request_count() > 0);
    proxy.abort();
}
