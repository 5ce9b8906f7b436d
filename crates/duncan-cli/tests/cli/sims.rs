//! Both simulators for the CLI tests: the test kit's [`duncan_testkit::Sims`] with this
//! suite's defaults (tasks start after 20 ms, images under `quay.io/myorg`, the `dogfood` and
//! `skulls` apps) and helpers named after the app and environment.

use std::ops::Deref;
use std::time::Duration;

use duncan_testkit::apps;
use serde_json::json;

/// A Consul and a Marathon simulator for one test; the kit's helpers are reached through it.
pub struct Sims(duncan_testkit::Sims);

impl Deref for Sims {
    type Target = duncan_testkit::Sims;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Sims {
    /// Starts both simulators (tasks start after 20 ms).
    pub async fn start() -> Self {
        Self::start_with(consul_sim::SimOptions::default(), marathon_options()).await
    }

    /// Starts both simulators with the given options.
    pub async fn start_with(
        consul: consul_sim::SimOptions,
        marathon: marathon_sim::SimOptions,
    ) -> Self {
        Self(duncan_testkit::Sims::start_with(consul, marathon).await)
    }

    /// A configuration file pointing at both sims, with duncan's own keys.
    pub fn config(&self) -> String {
        format!(
            "consul_url: {}\nmarathon_url: {}\ngithub_org: myorg\ndocker_repo_prefix: quay.io/myorg\n\
             apps:\n  - dogfood\n  - skulls\nrepos:\n  dogfood: dogfood-repo\n",
            self.consul_url(),
            self.marathon_url()
        )
    }

    /// Creates the group `/{app}-{env}` with a `web` (2 instances) and a `worker` (1) running
    /// `quay.io/myorg/{app}:{tag}`, and waits for its deployment to finish.
    pub async fn seed_group(&self, app: &str, env: &str, tag: &str) {
        self.seed_group_from("quay.io/myorg", app, env, tag).await;
    }

    /// Like [`Sims::seed_group`], with images under another prefix.
    pub async fn seed_group_from(&self, prefix: &str, app: &str, env: &str, tag: &str) {
        let image = format!("{prefix}/{app}:{tag}");
        let app_json = |kind: &str, instances: u32| {
            apps::with(
                apps::docker_app(&format!("/{app}-{env}/{kind}"), instances, &image),
                json!({
                    "healthChecks": [apps::health_check(5, 1, 1)],
                    "labels": {"HAPROXY_0_VHOST": format!("{app}.example.com")},
                }),
            )
        };
        let group = apps::group(
            &format!("/{app}-{env}"),
            vec![app_json("web", 2), app_json("worker", 1)],
        );
        self.put_group(&group).await;
        self.wait_idle().await;
    }

    /// Takes the deploy lock of `app/env` as another duncan would: a session and an acquire.
    pub async fn hold_lock(&self, app: &str, env: &str, user: &str) -> String {
        let session = json!({"Name": "other deploy", "TTL": "60s", "Behavior": "release"});
        let holder = json!({"user": user, "host": "otherhost", "pid": 4242, "tag": "v9",
                            "started_at": "2026-01-02T03:04:05Z", "duncan_version": "0.1.0"});
        self.0
            .hold_lock(&lock_key(app, env), &session, &holder)
            .await
    }

    /// The session holding the deploy lock of `app/env`, if any.
    pub async fn lock_session(&self, app: &str, env: &str) -> Option<String> {
        self.0.lock_session(&lock_key(app, env)).await
    }

    /// Releases a lock taken with [`Sims::hold_lock`], as its holder finishing would.
    pub async fn release_lock(&self, app: &str, env: &str, session: &str) {
        self.0.release_lock(&lock_key(app, env), session).await;
    }
}

fn lock_key(app: &str, env: &str) -> String {
    format!("deploys/{app}/{env}/lock")
}

/// Marathon-sim options for CLI tests: tasks start after 20 ms.
pub fn marathon_options() -> marathon_sim::SimOptions {
    duncan_testkit::sims::marathon_options(Duration::from_millis(20))
}
