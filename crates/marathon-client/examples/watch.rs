//! Watches Marathon's event stream and prints one line per event, reconnecting as needed.
//!
//! ```text
//! MARATHON_URL=http://localhost:8080 cargo run -p marathon-client --example watch
//! MARATHON_URL=http://localhost:8080 cargo run -p marathon-client --example watch -- deployment_success deployment_failed
//! ```
//!
//! Arguments are event types to filter on (all events when none). On DC/OS, set `DCOS_URL`
//! and `DCOS_ACS_TOKEN` instead of `MARATHON_URL`.

use futures_util::StreamExt;
use marathon_client::{Client, Event, EventStreamOptions, ReconnectPolicy, StreamItem};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let options = EventStreamOptions::new().with_event_types(std::env::args().skip(1));
    let mut stream = client
        .reconnecting_events(options, ReconnectPolicy::default())
        .await?;
    println!("watching {}", client.config().base_url());
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamItem::Event(event)) => println!("{}", describe(&event)),
            Ok(StreamItem::Disconnected(error)) => eprintln!("disconnected: {error}"),
            Ok(StreamItem::Reconnected) => {
                // Marathon replays nothing: show what is running now.
                eprintln!("reconnected");
                for deployment in client.deployments().await? {
                    println!(
                        "running deployment {} {:?}",
                        deployment.id, deployment.affected_apps
                    );
                }
            }
            Ok(_) => {}
            Err(error) => eprintln!("error: {error}"),
        }
    }
    Ok(())
}

fn describe(event: &Event) -> String {
    match event {
        Event::DeploymentInfo(info) => format!(
            "deployment {} step for {:?}",
            info.plan.id,
            info.plan.affected_apps()
        ),
        Event::DeploymentSuccess(done) => format!("deployment {} succeeded", done.id),
        Event::DeploymentFailed(failed) => format!("deployment {} failed", failed.id),
        Event::StatusUpdate(update) => format!(
            "task {} of {} is {}",
            update.task_id.as_deref().unwrap_or("?"),
            update.app_id.as_deref().unwrap_or("?"),
            update.task_status.as_deref().unwrap_or("?")
        ),
        Event::HealthStatusChanged(health) => format!(
            "{} of {} is {}",
            health
                .instance_id
                .as_deref()
                .or(health.task_id.as_deref())
                .unwrap_or("?"),
            health.app_id.as_deref().unwrap_or("?"),
            if health.alive == Some(true) {
                "healthy"
            } else {
                "unhealthy"
            }
        ),
        other => other.event_type().to_owned(),
    }
}
