//! duncan-core from a test: clients with quick retries, a [`Context`] per deployer, an image
//! check that finds everything, deploy requests with short windows and a progress recorder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duncan_core::deploy::image::BoxFuture;
use duncan_core::deploy::{
    Context, DeployOptions, DeployRequest, ImageCheck, ImageCheckError, ImageFound,
};
use duncan_core::names::{AppEnv, Deployer, Tag};
use duncan_core::progress::{Progress, ProgressSink};
use duncan_core::release::CommitRetry;
use duncan_core::settings::Settings;
use duncan_core::watch::WatchOptions;

/// The real Consul to test against, when `CONSUL_HTTP_ADDR` names one (`http://` added when
/// the address has no scheme).
pub fn real_consul() -> Option<String> {
    let addr = std::env::var("CONSUL_HTTP_ADDR")
        .ok()
        .filter(|a| !a.is_empty())?;
    Some(if addr.contains("://") {
        addr
    } else {
        format!("http://{addr}")
    })
}

/// A Consul client of `url` with `token`, a request `timeout`, and `retries` quick retries
/// (10 ms doubling up to `max_delay`), so failure tests stay fast.
///
/// # Panics
///
/// When `url` is not a valid address.
pub fn consul_client(
    url: &str,
    token: Option<&str>,
    timeout: Duration,
    retries: usize,
    max_delay: Duration,
) -> consul_client::Client {
    let mut config = consul_client::Config::new(url)
        .expect("consul url")
        .with_request_timeout(timeout)
        .with_retry(consul_client::RetryPolicy::new(
            retries,
            Duration::from_millis(10),
            max_delay,
        ));
    if let Some(token) = token {
        config = config.with_token(token);
    }
    consul_client::Client::new(config).expect("consul client")
}

/// A Marathon client of `url` with a request `timeout`.
///
/// # Panics
///
/// When `url` is not a valid address.
pub fn marathon_client(url: &str, timeout: Duration) -> marathon_client::Client {
    let config = marathon_client::Config::new(url)
        .expect("marathon url")
        .with_request_timeout(timeout);
    marathon_client::Client::new(config).expect("marathon client")
}

/// Settings of deployer `user@host` running duncan `version`, deploying images under
/// `prefix`.
pub fn settings(user: &str, host: &str, version: &str, prefix: &str) -> Settings {
    let deployer = Deployer::new(user, host).expect("deployer");
    let mut settings = Settings::new(deployer, version);
    settings.docker_repo_prefix = prefix.to_owned();
    settings
}

/// The context of one deployer.
pub fn context(
    consul: consul_client::Client,
    marathon: marathon_client::Client,
    images: Arc<dyn ImageCheck>,
    settings: Settings,
) -> Context {
    Context {
        consul,
        marathon,
        images,
        settings,
        cancel: Default::default(),
    }
}

/// An image check that finds every image, with a digest derived from the name's length.
pub struct FindsEverything;

impl ImageCheck for FindsEverything {
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>> {
        Box::pin(async move {
            Ok(ImageFound {
                digest: format!("sha256:{:0>64}", image.len()),
            })
        })
    }
}

/// A tag.
///
/// # Panics
///
/// When `s` is not a valid tag.
pub fn tag(s: &str) -> Tag {
    s.parse().expect("tag")
}

/// Watch windows for tests: a `deadline`, a `stall` window, a read every 100 ms and a re-sync
/// every 2 s.
pub fn watch_options(deadline: Duration, stall: Duration) -> WatchOptions {
    WatchOptions {
        deadline: Some(deadline),
        stall_window: Some(stall),
        poll_interval: Duration::from_millis(100),
        resync_interval: Duration::from_secs(2),
    }
}

/// Deploy options with `watch` and `attempts` quick commit retries (20 ms up to `max_delay`).
pub fn deploy_options(watch: WatchOptions, attempts: usize, max_delay: Duration) -> DeployOptions {
    DeployOptions {
        watch,
        commit_retry: CommitRetry {
            attempts,
            initial_delay: Duration::from_millis(20),
            max_delay,
        },
        ..DeployOptions::default()
    }
}

/// A deploy request of `app_env` to `tag_name` with `options`.
pub fn deploy_request(app_env: &AppEnv, tag_name: &str, options: DeployOptions) -> DeployRequest {
    let mut request = DeployRequest::new(app_env.clone(), tag(tag_name));
    request.options = options;
    request
}

/// A progress sink that records every value, with an optional hook run on each.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Progress>>>,
}

impl Recorder {
    /// A recorder and its sink.
    pub fn new() -> (Recorder, ProgressSink) {
        Recorder::with_hook(|_| {})
    }

    /// A recorder whose sink also calls `hook` on each value (to inject a fault at a step).
    pub fn with_hook(hook: impl Fn(&Progress) + Send + Sync + 'static) -> (Recorder, ProgressSink) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&seen);
        let sink = ProgressSink::new(move |p| {
            hook(&p);
            store.lock().expect("progress lock").push(p);
        });
        (Recorder { seen }, sink)
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Progress> {
        self.seen.lock().expect("progress lock").clone()
    }

    /// Whether a value matching `f` was seen.
    pub fn saw(&self, f: impl Fn(&Progress) -> bool) -> bool {
        self.seen().iter().any(f)
    }
}
