//! Marathon through marathon-client: a group of one app with zero instances (so a real cluster
//! runs nothing) created, read back losslessly, updated and watched to its deployment's end,
//! then deleted.

use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use futures_util::StreamExt as _;
use marathon_client::{
    Event, EventStream, EventStreamOptions, Group, GroupEmbed, GroupUpdateOptions, event_types,
};
use serde_json::json;

use crate::util::{Ctx, within};

const FIRST_IMAGE: &str = "busybox:1.36";
const SECOND_TAG: &str = "1.37";

/// The group the suite creates: one app, zero instances, fields the client's model does not
/// name (labels, env, cpus, mem) so that the round trip shows they are kept.
fn zero_instance_group(ctx: &Ctx) -> Result<Group> {
    let id = ctx.scope.group_id("web")?;
    let group = json!({
        "id": id,
        "apps": [{
            "id": format!("{id}/app"),
            "instances": 0,
            "cpus": 0.01,
            "mem": 16,
            "container": {"type": "DOCKER", "docker": {"image": FIRST_IMAGE}},
            "labels": {"duncan-it": ctx.scope.prefix()},
            "env": {"DUNCAN_IT_RUN": ctx.scope.prefix()}
        }]
    });
    Ok(serde_json::from_value(group)?)
}

async fn subscribe(ctx: &Ctx) -> Result<EventStream> {
    let options = EventStreamOptions::new().with_event_types([
        event_types::DEPLOYMENT_SUCCESS,
        event_types::DEPLOYMENT_FAILED,
    ]);
    Ok(within("event stream", ctx.marathon.events(&options)).await??)
}

/// Reads the stream until `deployment_success` for `id`; `deployment_failed` for it fails.
async fn await_success(events: &mut EventStream, id: &str) -> Result<()> {
    within("deployment outcome", async {
        while let Some(event) = events.next().await {
            match event? {
                Event::DeploymentSuccess(e) if e.id == id => return Ok(()),
                Event::DeploymentFailed(e) if e.id == id => bail!("deployment {id} failed: {e:?}"),
                _ => {}
            }
        }
        bail!("the event stream ended before deployment {id} did")
    })
    .await?
}

fn app_of(group: &Group) -> Result<&marathon_client::App> {
    group
        .all_apps()
        .into_iter()
        .next()
        .context("the group has no app")
}

#[tokio::test]
async fn zero_instance_group_round_trips_deploys_and_deletes() -> Result<()> {
    crate::util::scoped(async |ctx| {
        let wanted = zero_instance_group(ctx)?;
        // Subscribed before any change, so no outcome can be missed.
        let mut events = subscribe(ctx).await?;

        let created = ctx.scope.create_group(&ctx.marathon, &wanted).await?;
        await_success(&mut events, &created.deployment_id).await?;

        let mut group = ctx
            .marathon
            .group(&wanted.id, &[GroupEmbed::Apps, GroupEmbed::Groups])
            .await?;
        let app = app_of(&group)?;
        let sent = app_of(&wanted)?;
        ensure!(app.instances == Some(0), "instances {:?}", app.instances);
        ensure!(
            app.docker_image() == Some(FIRST_IMAGE),
            "image {:?}",
            app.docker_image()
        );
        for field in ["labels", "env"] {
            ensure!(
                app.extra.get(field) == sent.extra.get(field),
                "{field} read back as {:?}, sent {:?}",
                app.extra.get(field),
                sent.extra.get(field)
            );
        }
        // Numbers by value: some Marathon versions write `16` back as `16.0`.
        for field in ["cpus", "mem"] {
            let number = |a: &marathon_client::App| a.extra.get(field).and_then(|v| v.as_f64());
            ensure!(
                number(app) == number(sent) && number(sent).is_some(),
                "{field} read back as {:?}, sent {:?}",
                number(app),
                number(sent)
            );
        }

        for app in group.all_apps_mut() {
            app.set_image_tag(SECOND_TAG)?;
        }
        let updated = ctx
            .marathon
            .update_group(&group, GroupUpdateOptions::default())
            .await?;
        ensure!(
            updated.deployment_id != created.deployment_id,
            "an update starts a new deployment"
        );
        await_success(&mut events, &updated.deployment_id).await?;

        let after = ctx.marathon.group(&wanted.id, &[GroupEmbed::Apps]).await?;
        let app = app_of(&after)?;
        ensure!(
            app.image_tag() == Some(SECOND_TAG),
            "image {:?}",
            app.docker_image()
        );
        ensure!(
            app.extra.get("labels") == sent.extra.get("labels"),
            "labels survive the read-modify-write: {:?}",
            app.extra.get("labels")
        );

        // A finished deployment leaves the list (Marathon may take a moment after the event).
        within("deployment list", async {
            loop {
                let listed = ctx.marathon.deployments().await?;
                if !listed.iter().any(|d| d.id == updated.deployment_id) {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await??;

        let deleted = ctx.marathon.delete_group(&wanted.id, true).await?;
        await_success(&mut events, &deleted.deployment_id).await?;
        match ctx.marathon.group(&wanted.id, &[]).await {
            Err(marathon_client::Error::NotFound { .. }) => Ok(()),
            other => bail!("the deleted group is still there: {other:?}"),
        }
    })
    .await
}
