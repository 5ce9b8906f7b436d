//! Turning a blocking read into a stream of changes.

use std::future::Future;
use std::time::Duration;

use futures_util::Stream;
use futures_util::stream;

use crate::error::Result;
use crate::query::{QueryMeta, QueryOptions, next_index};

/// Longest pause after repeated failures before the next attempt.
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(10);

/// Turns a blocking read into a stream of changes.
///
/// `fetch` is called with `opts` plus the index to block on. The stream yields the first
/// answer at once, then one item each time Consul returns a different index; a blocking
/// query that merely timed out (same index) yields nothing. Following Consul's rules, the
/// index is reset to 0 when it goes backwards (the next answer is then yielded even if
/// unchanged) and never blocks on index 0.
///
/// Errors are yielded as items and the stream goes on, pausing with a growing delay (up to
/// 10 s) before the next attempt; drop the stream to stop watching.
///
/// # Cancel safety
///
/// Dropping the stream, or a `next()` future of it, at any point is safe: it only abandons the
/// blocking read in flight, which changes nothing in Consul and leaves nothing to clean up.
/// An answer that arrived but was not yet yielded is lost; the next `next()` on the same stream
/// asks again from the last yielded index, so no change is missed, only read again.
///
/// ```no_run
/// # async fn demo(client: consul_client::Client) {
/// use futures_util::StreamExt;
/// use std::time::Duration;
///
/// let opts = consul_client::QueryOptions::new().wait(Duration::from_secs(60));
/// let mut changes = std::pin::pin!(client.kv().watch("config/feature", opts));
/// while let Some(change) = changes.next().await {
///     match change {
///         Ok((pair, meta)) => println!("index {}: {:?}", meta.index, pair.map(|p| p.value)),
///         Err(e) => eprintln!("watch error: {e}"),
///     }
/// }
/// # }
/// ```
pub fn watch<T, F, Fut>(
    opts: QueryOptions,
    fetch: F,
) -> impl Stream<Item = Result<(T, QueryMeta)>> + Send
where
    F: FnMut(QueryOptions) -> Fut + Send,
    Fut: Future<Output = Result<(T, QueryMeta)>> + Send,
    T: Send,
{
    let state = State {
        opts,
        fetch,
        index: 0,
        last_yielded: None,
        failures: 0,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if state.failures > 0 {
                tokio::time::sleep(error_pause(state.failures)).await;
            }
            let mut opts = state.opts.clone();
            opts.index = (state.index > 0).then_some(state.index);
            match (state.fetch)(opts).await {
                Ok((value, meta)) => {
                    state.failures = 0;
                    let went_back = meta.index < state.index;
                    state.index = next_index(state.index, meta.index);
                    if went_back || state.last_yielded != Some(meta.index) {
                        state.last_yielded = Some(meta.index);
                        return Some((Ok((value, meta)), state));
                    }
                }
                Err(e) => {
                    state.failures = state.failures.saturating_add(1);
                    return Some((Err(e), state));
                }
            }
        }
    })
}

struct State<F> {
    opts: QueryOptions,
    fetch: F,
    index: u64,
    last_yielded: Option<u64>,
    failures: u32,
}

fn error_pause(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_millis(200u64.saturating_mul(1 << exp)).min(MAX_ERROR_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::{Arc, Mutex};

    fn meta(index: u64) -> QueryMeta {
        QueryMeta {
            index,
            ..QueryMeta::default()
        }
    }

    #[tokio::test]
    async fn yields_only_changes_and_resets_when_index_goes_back() {
        // Indexes Consul "returns", in order: 5, 5 (timeout), 7, 3 (went back), 3.
        let answers = Arc::new(Mutex::new(vec![5u64, 5, 7, 3, 3, 9].into_iter()));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (a, s) = (answers.clone(), sent.clone());
        let stream = watch(QueryOptions::new(), move |o: QueryOptions| {
            s.lock().map(|mut v| v.push(o.index)).ok();
            let next = a.lock().ok().and_then(|mut it| it.next()).unwrap_or(99);
            async move { Ok(((), meta(next))) }
        });
        let got: Vec<u64> = stream
            .take(4)
            .map(|r| r.map(|(_, m)| m.index).unwrap_or(0))
            .collect()
            .await;
        assert_eq!(got, vec![5, 7, 3, 9]);
        let sent = sent.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(sent, vec![None, Some(5), Some(5), Some(7), None, Some(3)]);
    }

    #[test]
    fn error_pause_grows_and_is_capped() {
        assert_eq!(error_pause(1), Duration::from_millis(200));
        assert_eq!(error_pause(2), Duration::from_millis(400));
        assert_eq!(error_pause(30), MAX_ERROR_PAUSE);
    }
}
