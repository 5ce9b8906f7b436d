//! Consul's three token refusals through the binary: no token set, a token Consul does not know,
//! a token without the right. Each is told as its own case, as a read or a write, exit 7, and
//! the token never appears.

use consul_sim::{Access, Rule, SimOptions};

use crate::support::{Home, Sims, marathon_options, report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_token_cases_are_told_apart_for_reads_and_writes() {
    let sims = Sims::start_with(
        SimOptions::default()
            .acl_master_token("root")
            .token(
                "reader-secret",
                vec![
                    Rule::new("env/shop/", Access::Read),
                    Rule::new("deploys/shop/", Access::Read),
                ],
            )
            .token("nobody-secret", vec![]),
        marathon_options(),
    )
    .await;
    // (command, what it needs, the token that lacks it)
    let commands: [(&[&str], &str, &str); 3] = [
        (
            &["env", "get", "-a", "shop", "-e", "stage"],
            "read",
            "nobody-secret",
        ),
        (
            &["lock", "status", "-a", "shop", "-e", "stage"],
            "read",
            "nobody-secret",
        ),
        (
            &["env", "set", "A=1", "-y", "-a", "shop", "-e", "stage"],
            "write",
            "reader-secret",
        ),
    ];
    let mut runs = 0;
    for (args, need, lacking) in commands {
        let cases = [
            (None, "no Consul token is set"),
            (Some("no-such-secret"), "Consul does not know the ACL token"),
            (
                Some(lacking),
                "the Consul token (from file: consul_token) may not",
            ),
        ];
        for (token, says) in cases {
            let token_line = token.map_or_else(String::new, |t| format!("consul_token: {t}\n"));
            let home = Home::with_config(&format!("{}{token_line}", sims.config(&["shop"])));
            let out = home.run(args, &[]).await;
            runs += 1;
            let shown = args.join(" ");
            assert_eq!(out.code, 7, "{shown} ({token:?}): {}", out.stderr);
            assert!(
                out.stderr.contains(says),
                "{shown} ({token:?}): {}",
                out.stderr
            );
            // An unknown token may do nothing at all; the other two say what the command needs.
            if token != Some("no-such-secret") {
                assert!(
                    out.stderr.contains(&format!("may not {need}")),
                    "{shown} ({token:?}) is a {need}: {}",
                    out.stderr
                );
            }
            for secret in ["reader-secret", "nobody-secret", "no-such-secret"] {
                assert!(!out.all().contains(secret), "{shown}: the token was shown");
            }
            out.assert_no_panic();
        }
    }
    assert!(
        sims.consul
            .control()
            .kv_snapshot()
            .keys()
            .all(|k| !k.starts_with("env/shop/")),
        "a refused write wrote nothing"
    );
    report(
        "token cases (none, unknown, lacking) for reads and writes",
        runs,
        "pass",
        &format!(
            "{runs} runs (env get, lock status, env set × no token, unknown token, token without \
             the right): each exit 7 naming its own case (and, but for the unknown token, read or write); 0 tokens shown, \
             nothing written"
        ),
    );
}
