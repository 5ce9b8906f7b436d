//! How far the watch trusts its event stream: keep-alives, silence, drops.

use super::*;

/// Options where only a distrusted stream makes the watch read more than once.
fn long_resync() -> WatchOptions {
    WatchOptions {
        deadline: Some(Duration::from_secs(30)),
        poll_interval: Duration::from_millis(20),
        resync_interval: Duration::from_secs(20),
        ..quick()
    }
}

#[tokio::test]
async fn silent_stream_is_distrusted_and_the_end_is_seen_by_polling() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    let driver = {
        let fake = fake.clone();
        async move {
            // The stream stalls (not a word, not a keep-alive) and the deployment ends.
            tokio::time::sleep(Duration::from_millis(300)).await;
            end_deployment(&fake);
            tx
        }
    };
    let (target, options, sink) = (target(), long_resync(), ProgressSink::none());
    let watch = run(
        &fake,
        Some(rx),
        &target,
        &options,
        Duration::from_millis(100),
        &NEVER,
        &sink,
    );
    // Far shorter than the 20 s resync: only the distrust of the silent stream can end it.
    let (report, _tx) = tokio::join!(tokio::time::timeout(Duration::from_secs(5), watch), driver);
    assert_eq!(
        report.expect("ended by polling").outcome,
        WatchOutcome::Succeeded
    );
    assert!(fake.reads() > 2, "polled once the stream went silent");
}

#[tokio::test]
async fn keep_alives_keep_the_stream_trusted_and_rest_quiet() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    let driver = async move {
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            // The watch may have stopped listening already.
            let _ = tx.send(Signal::KeepAlive);
        }
        tx
    };
    let (target, options, sink) = (target(), long_resync(), ProgressSink::none());
    let watch = tokio::time::timeout(
        Duration::from_millis(450),
        run(
            &fake,
            Some(rx),
            &target,
            &options,
            Duration::from_millis(100),
            &NEVER,
            &sink,
        ),
    );
    let (ended, _tx) = tokio::join!(watch, driver);
    assert!(ended.is_err(), "the deployment is still running");
    assert_eq!(fake.reads(), 1, "the first read only; no polling");
}

#[tokio::test]
async fn dropped_stream_is_polled_until_it_reconnects() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    let driver = {
        let fake = fake.clone();
        async move {
            tx.send(Signal::Disconnected).unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            // The end happens while the stream is down: its event is lost for good.
            end_deployment(&fake);
            tx
        }
    };
    let (target, options, sink) = (target(), long_resync(), ProgressSink::none());
    // A silence limit far beyond the test: only the drop itself makes the watch poll.
    let watch = run(
        &fake,
        Some(rx),
        &target,
        &options,
        Duration::from_secs(60),
        &NEVER,
        &sink,
    );
    let (report, _tx) = tokio::join!(tokio::time::timeout(Duration::from_secs(5), watch), driver);
    assert_eq!(
        report.expect("ended by polling").outcome,
        WatchOutcome::Succeeded
    );
}
