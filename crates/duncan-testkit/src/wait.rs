//! Waiting on observable state (a simulator's request log, a key, a deployment list) instead
//! of sleeping for a guessed time.

use std::time::Duration;

/// How long [`until`] waits at the most: a failing bound, never a timing the test relies on.
pub const LIMIT: Duration = Duration::from_secs(10);

const TURN: Duration = Duration::from_millis(10);

/// Checks `ready` every 10 ms until it holds; false when it still did not after [`LIMIT`].
pub async fn until(mut ready: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..turns() {
        if ready().await {
            return true;
        }
        tokio::time::sleep(TURN).await;
    }
    ready().await
}

/// [`until`] for a condition that needs no await (a simulator control, a recorder); its
/// future is `Send` whenever `ready` is, so it can wait inside a spawned task.
pub async fn until_sync(mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..turns() {
        if ready() {
            return true;
        }
        tokio::time::sleep(TURN).await;
    }
    ready()
}

fn turns() -> u128 {
    LIMIT.as_millis() / TURN.as_millis()
}
