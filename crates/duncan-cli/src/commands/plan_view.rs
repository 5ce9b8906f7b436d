//! How a deploy plan is shown before the prompt (and with `--yes`).

use duncan_core::plan::Plan;

use crate::output::{BOLD, CYAN, DIM, RED, YELLOW, env_name, paint};

/// Writes the plan on stderr, for `--json` runs that ask before going ahead (stdout holds the
/// JSON document alone).
pub fn eprint_plan(plan: &Plan, verb: &str) {
    use std::io::Write;
    let mut err = anstream::stderr().lock();
    for line in plan_lines(plan, verb) {
        if writeln!(err, "{line}").is_err() {
            return;
        }
    }
    let _ = writeln!(err);
}

/// The plan as lines for stdout, in the Go tool's "You are about to deploy" shape.
pub fn plan_lines(plan: &Plan, verb: &str) -> Vec<String> {
    let label = |name: &str| paint(BOLD, format!("{name:<9}"));
    let mut lines = vec![format!("You are about to {verb}:"), String::new()];
    lines.push(format!(
        "  {} {}",
        label("app:"),
        paint(YELLOW, plan.app_env.app.as_str())
    ));
    lines.push(format!(
        "  {} {}",
        label("env:"),
        env_name(plan.app_env.env.as_str())
    ));
    lines.push(format!(
        "  {} {}",
        label("tag:"),
        paint(CYAN, plan.tag.as_str())
    ));
    let current = plan
        .current
        .as_ref()
        .map_or_else(|| paint(DIM, "none recorded"), |t| t.to_string());
    lines.push(format!("  {} {current}", label("current:")));
    if let Some(source) = &plan.rollback {
        lines.extend(super::history::rollback_lines(source, &plan.tag));
    }
    let image = match (&plan.digest, plan.image_check_skipped) {
        (Some(digest), _) => format!("{} ({digest})", plan.new_image()),
        (None, true) => format!(
            "{} {}",
            plan.new_image(),
            paint(DIM, "(not checked: --skip-image-check)")
        ),
        (None, false) => plan.new_image(),
    };
    lines.push(format!("  {} {image}", label("image:")));
    if plan.changes.is_empty() {
        lines.push(format!(
            "  {} {}",
            label("changes:"),
            paint(DIM, "none: every app already runs this tag")
        ));
    } else {
        lines.push(format!("  {}", paint(BOLD, "changes:")));
        let width = plan
            .changes
            .iter()
            .map(|c| c.app_id.len())
            .max()
            .unwrap_or(0);
        for change in &plan.changes {
            lines.push(format!(
                "    {:width$}  {} => {}",
                change.app_id,
                change.old_image,
                paint(CYAN, &change.new_image)
            ));
        }
    }
    for app in &plan.unchanged {
        lines.push(format!(
            "    {} {}",
            app,
            paint(DIM, "(already runs this tag)")
        ));
    }
    if let Some(link) = &plan.diff_link {
        lines.push(format!("  {} {link}", label("diff:")));
    }
    if let Some(steps) = &plan.marathon_steps {
        lines.push(format!("  {} {steps}", label("marathon:")));
    }
    // Known blockers, before any prompt: what refuses is said as such.
    for blocker in &plan.blockers {
        let (name, style) = if blocker.refuses() {
            ("blocked:", RED)
        } else {
            ("note:", YELLOW)
        };
        lines.push(format!(
            "  {} {}",
            paint(style, format!("{name:<9}")),
            blocker
        ));
    }
    lines
}
