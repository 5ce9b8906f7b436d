//! The deadline and the interruption hold whatever Marathon does.

use super::*;

/// A guard against a watch that never ends: far longer than any deadline below.
const HANG: Duration = Duration::from_secs(20);

#[tokio::test]
async fn deadline_holds_when_every_read_takes_longer_than_the_poll_interval() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    // Each read takes ten poll intervals: a read is always due when the last one ends.
    fake.set_delay(Duration::from_millis(200));
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(500)),
        ..quick()
    };
    let (target, sink) = (target(), ProgressSink::none());
    let watch = watch_deployment::<_, Signals>(&fake, None, &target, &options, &NEVER, &sink);
    let report = tokio::time::timeout(HANG, watch)
        .await
        .expect("the watch ends at its deadline");
    assert_eq!(
        report.outcome,
        WatchOutcome::TimedOut {
            after: Duration::from_millis(500)
        }
    );
}

#[tokio::test]
async fn deadline_holds_when_a_read_never_answers() {
    let fake = FakeMarathon::default();
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    // Marathon vanished without closing the connection.
    fake.set_delay(Duration::from_secs(3600));
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(300)),
        ..quick()
    };
    let (target, sink) = (target(), ProgressSink::none());
    let watch = watch_deployment::<_, Signals>(&fake, None, &target, &options, &NEVER, &sink);
    let report = tokio::time::timeout(HANG, watch)
        .await
        .expect("the watch ends at its deadline plus its last look");
    assert!(matches!(report.outcome, WatchOutcome::TimedOut { .. }));
}

#[tokio::test]
async fn success_just_before_the_deadline_is_seen_by_a_last_look() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    // A trusted, silent stream and a re-read far beyond the deadline: without a last look,
    // nothing would read the apps between the first read and the deadline.
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(400)),
        resync_interval: Duration::from_secs(60),
        ..quick()
    };
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // It ends without a word on the stream (the event was lost).
            end_deployment(&fake);
            tx
        }
    };
    let (target, sink) = (target(), ProgressSink::none());
    let (report, _tx) = tokio::join!(
        watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
}

#[tokio::test]
async fn cancellation_ends_the_watch_in_a_wait_and_says_interrupted() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (_tx, rx) = signals();
    let cancel = CancellationToken::new();
    let stop = {
        let cancel = cancel.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        }
    };
    let options = WatchOptions {
        deadline: Some(Duration::from_secs(600)),
        ..quick()
    };
    let (target, sink) = (target(), ProgressSink::none());
    let watch = watch_deployment(&fake, Some(rx), &target, &options, &cancel, &sink);
    let (report, ()) = tokio::join!(tokio::time::timeout(HANG, watch), stop);
    assert_eq!(
        report.expect("ended by the cancellation").outcome,
        WatchOutcome::Interrupted
    );
}

#[tokio::test]
async fn cancellation_ends_the_watch_in_the_middle_of_a_read() {
    let fake = FakeMarathon::default();
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    fake.set_delay(Duration::from_secs(3600));
    let cancel = CancellationToken::new();
    let stop = {
        let cancel = cancel.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        }
    };
    let (target, options, sink) = (target(), quick(), ProgressSink::none());
    let watch = watch_deployment::<_, Signals>(&fake, None, &target, &options, &cancel, &sink);
    let (report, ()) = tokio::join!(tokio::time::timeout(HANG, watch), stop);
    assert_eq!(
        report.expect("ended by the cancellation").outcome,
        WatchOutcome::Interrupted
    );
}

#[test]
fn a_deadline_too_large_for_the_clock_is_a_deadline_without_end() {
    let limits = Limits::new(
        Instant::now(),
        &WatchOptions {
            deadline: Some(Duration::MAX),
            ..quick()
        },
    );
    assert!(limits.deadline_at() > Instant::now() + Duration::from_secs(86_400 * 365));
}
