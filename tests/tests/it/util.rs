//! The harness: one target, one scope and both clients per test, and a cleanup that always runs.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use duncan_tests::it_scope::{Scope, Target};

/// How long any single wait of the suite may take before the test fails; generous for real
/// services, never reached against the sims.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What a test body gets.
pub struct Ctx {
    /// Keeps the simulators (when the target has them) running for the whole test.
    pub _target: Target,
    pub scope: Scope,
    pub consul: consul_client::Client,
    pub marathon: marathon_client::Client,
}

/// Runs `body` in a fresh scope, then cleans the scope up whether the body passed or not, and
/// checks that nothing of the scope is left in Consul.
pub async fn scoped(body: impl AsyncFnOnce(&Ctx) -> Result<()>) -> Result<()> {
    let target = Target::from_env().await?;
    eprintln!("integration target: {}", target.describe());
    let ctx = Ctx {
        consul: target.consul_client()?,
        marathon: target.marathon_client()?,
        scope: Scope::generate(),
        _target: target,
    };
    let outcome = body(&ctx).await;
    let cleaned = ctx.scope.cleanup(&ctx.consul, &ctx.marathon).await;
    outcome?;
    cleaned.context("cleanup")?;
    let left = ctx
        .consul
        .kv()
        .keys(
            &ctx.scope.key_prefix(),
            None,
            &consul_client::QueryOptions::consistent(),
        )
        .await?
        .0;
    if !left.is_empty() {
        bail!("cleanup left keys behind: {left:?}");
    }
    Ok(())
}

/// Awaits `f`, failing the test after [`PATIENCE`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(PATIENCE, f)
        .await
        .with_context(|| format!("{what}: no answer within {PATIENCE:?}"))
}
