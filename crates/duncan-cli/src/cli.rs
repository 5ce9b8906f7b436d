//! The command-line grammar: every command, flag and argument of `duncan`.
//!
//! Flags keep the Go tool's spellings (`-a -e -t`, `-f` to skip the prompt, `env get|set|del`,
//! `scale web=3`) beside the newer, more explicit ones.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::{parse_deadline, parse_wait};

/// Deploy Docker image tags to Mesos Marathon, with the deploy lock, release tags, history and
/// audit log kept in Consul.
#[derive(Debug, Parser)]
#[command(
    name = "duncan",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Configuration is read from --config FILE, else $HOME/.duncan.yml.\n\
                  Exit codes: 0 done, 1 error, 2 usage, 3 lock held or deploys on hold,\n\
                  4 failed and rolled back, 5 failed and not rolled back, 7 not allowed,\n\
                  130 interrupted."
)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Configuration file to read (default: $DUNCAN_CONFIG, else $HOME/.duncan.yml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout (JSON lines for streams); no colour, no progress line.
    #[arg(long, global = true)]
    pub json: bool,
    /// When to colour the output; NO_COLOR in the environment turns `auto` off.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
    /// Show more on stderr: -v duncan's own steps, -vv HTTP detail, -vvv trace (RUST_LOG wins).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Consul's address (overrides CONSUL_HTTP_ADDR and the file's consul_url / consul_host).
    #[arg(long, global = true, value_name = "URL")]
    pub consul_url: Option<String>,
    /// Marathon's address (overrides MARATHON_URL, DCOS_URL and the file's marathon_url /
    /// marathon_host).
    #[arg(long, global = true, value_name = "URL")]
    pub marathon_url: Option<String>,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour when the output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Every `duncan` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an image tag of an app to one environment.
    #[command(after_help = "Example: duncan deploy -a dogfood -e stage -t v1.2.3")]
    Deploy(DeployArgs),
    /// Deploy the previously deployed tag again (or the tag given with --to).
    #[command(
        after_help = "Examples:\n  duncan rollback -a dogfood -e production\n  \
                            duncan rollback -a dogfood -e production --to v1.2.2"
    )]
    Rollback(RollbackArgs),
    /// Show the running tag of each app and environment, and drift from Consul's record.
    #[command(
        visible_alias = "list",
        after_help = "Examples:\n  duncan status\n  duncan status -a dogfood -e production --json"
    )]
    Status(StatusArgs),
    /// Show the release history of an app in one environment.
    #[command(after_help = "Example: duncan history -a dogfood -e production --limit 5")]
    History(HistoryArgs),
    /// Inspect or release the deploy lock of an app/env, or put its deploys on hold.
    Lock(LockArgs),
    /// Show the audit log of changes (deploys, scales, locks, holds…), newest first.
    #[command(
        after_help = "Examples:\n  duncan log -a dogfood -e production --since 24h\n  \
                            duncan log --limit 50 --json"
    )]
    Log(LogArgs),
    /// Manage an app's environment variables kept in Consul.
    Env(EnvArgs),
    /// Change the number of instances of an app's processes.
    #[command(
        after_help = "Examples:\n  duncan scale web=3 worker=2 -a dogfood -e production\n  \
                            duncan scale --type web --instances 3 -a dogfood -e production"
    )]
    Scale(ScaleArgs),
    /// Follow a Marathon deployment until it ends.
    #[command(
        after_help = "Example: duncan watch 6c1f2a9e-0b7d-4c3e-9f1a-2b3c4d5e6f70 --timeout 10m"
    )]
    Watch(WatchArgs),
    /// Delivery figures from the history: deploys per day, change failure rate, time to restore.
    #[command(after_help = "Examples:\n  duncan report --since 30d\n  \
                            duncan report -a dogfood -e production --since 12w --csv")]
    Report(ReportArgs),
    /// Show the configuration or search variables across apps.
    Config(ConfigArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example: duncan completions bash > /etc/bash_completion.d/duncan")]
    Completions(CompletionsArgs),
    /// Print duncan's version.
    Version,
    /// Print the man page (roff), for packagers.
    #[command(hide = true)]
    Man,
}

impl Command {
    /// The app the command names, if any (checked against the configured `apps` before anything
    /// is sent).
    pub fn app(&self) -> Option<&str> {
        match self {
            Self::Deploy(args) => Some(&args.target.app),
            Self::Rollback(args) => Some(&args.target.app),
            Self::History(args) => Some(&args.target.app),
            Self::Scale(args) => Some(&args.target.app),
            Self::Lock(args) => match &args.action {
                LockAction::Status { target }
                | LockAction::Release { target, .. }
                | LockAction::Hold { target, .. } => Some(&target.app),
            },
            Self::Log(args) => args.app.as_deref(),
            Self::Status(args) => args.app.as_deref(),
            Self::Report(args) => args.app.as_deref(),
            Self::Env(args) => args.app.as_deref(),
            Self::Watch(_) | Self::Config(_) | Self::Completions(_) | Self::Version | Self::Man => {
                None
            }
        }
    }
}

/// The app and environment a command acts on.
#[derive(Debug, Args, Clone)]
pub struct Target {
    /// The app (its Marathon group is /{app}-{env}).
    #[arg(short, long)]
    pub app: String,
    /// The environment (stage, production or one listed under `environments`).
    #[arg(short, long)]
    pub env: String,
}

/// Options of a deploy that also apply to a rollback.
#[derive(Debug, Args, Clone)]
pub struct DeployOptions {
    /// Do not ask for confirmation (the plan is still printed).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Same as --yes, kept from the Go tool; use --force-marathon for Marathon's force.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Cancel deployments that hold the apps in Marathon (Marathon's `force=true`).
    #[arg(long)]
    pub force_marathon: bool,
    /// Show the plan and stop; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait up to this long for a lock held by someone else (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub wait: Option<Duration>,
    /// Give up (and roll back) when the deployment has not finished in this time (e.g. 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_deadline)]
    pub timeout: Option<Duration>,
    /// Leave a failed deployment where it stopped instead of rolling back.
    #[arg(long)]
    pub no_rollback: bool,
    /// Do not check that the image exists in its registry.
    #[arg(long)]
    pub skip_image_check: bool,
}

impl DeployOptions {
    /// Whether the prompt is skipped (`--yes` or the Go tool's `--force`).
    pub fn skip_prompt(&self) -> bool {
        self.yes || self.force
    }
}

/// Arguments of `duncan deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// App and environment.
    #[command(flatten)]
    pub target: Target,
    /// The Docker image tag to deploy.
    #[arg(short, long)]
    pub tag: String,
    /// Deploy options.
    #[command(flatten)]
    pub options: DeployOptions,
}

/// Arguments of `duncan rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// App and environment.
    #[command(flatten)]
    pub target: Target,
    /// Roll back to this tag (from the history) instead of the previous one.
    #[arg(long, value_name = "TAG")]
    pub to: Option<String>,
    /// Deploy options.
    #[command(flatten)]
    pub options: DeployOptions,
}

/// Arguments of `duncan status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this app (default: every app under `apps` in the configuration).
    #[arg(short, long)]
    pub app: Option<String>,
    /// Only this environment (default: every allowed environment).
    #[arg(short, long)]
    pub env: Option<String>,
}

/// Arguments of `duncan report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this app (default: every app under `apps` in the configuration).
    #[arg(short, long)]
    pub app: Option<String>,
    /// Only this environment (default: every allowed environment).
    #[arg(short, long)]
    pub env: Option<String>,
    /// How far back to look: `30d`, `12w`, `48h` (at most 3650d).
    #[arg(long, value_name = "DURATION", default_value = "30d",
          value_parser = crate::duration::parse_lookback)]
    pub since: std::time::Duration,
    /// Comma-separated values on standard output, one row per app/env and one for all.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

/// Arguments of `duncan history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// App and environment.
    #[command(flatten)]
    pub target: Target,
    /// Show at most this many releases, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Arguments of `duncan lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// What to do with the lock.
    #[command(subcommand)]
    pub action: LockAction,
}

/// `duncan lock` subcommands.
#[derive(Debug, Subcommand)]
pub enum LockAction {
    /// Show who holds the deploy lock, with which tag and since when.
    Status {
        /// App and environment.
        #[command(flatten)]
        target: Target,
    },
    /// Freeze deploys, rollbacks and scales of the app/env until `duncan lock release`.
    #[command(
        after_help = "Example: duncan lock hold -a dogfood -e production --reason \"incident 4711\""
    )]
    Hold {
        /// App and environment.
        #[command(flatten)]
        target: Target,
        /// Why (shown to everyone whose deploy is refused).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Release a deploy lock left behind, or end a hold (asks for confirmation unless --yes).
    Release {
        /// App and environment.
        #[command(flatten)]
        target: Target,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// Arguments of `duncan log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The app (default: every configured app).
    #[arg(short, long)]
    pub app: Option<String>,
    /// The environment (default: every configured environment).
    #[arg(short, long)]
    pub env: Option<String>,
    /// Only events newer than this (for example 24h, 30m or 7d; at most 3650d).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_lookback)]
    pub since: Option<Duration>,
    /// Show at most this many events in all, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Arguments of `duncan env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The app (may also be given after the subcommand).
    #[arg(short, long, global = true)]
    pub app: Option<String>,
    /// The environment (may also be given after the subcommand).
    #[arg(short, long, global = true)]
    pub env: Option<String>,
    /// Do not ask for confirmation before changing variables (also after `set`/`unset`).
    #[arg(short = 'y', long, alias = "force", short_alias = 'f')]
    pub yes: bool,
    /// What to do with the variables.
    #[command(subcommand)]
    pub action: EnvAction,
}

impl EnvArgs {
    /// `-y` given before the subcommand or after `set`/`unset`.
    pub fn confirmed(&self) -> bool {
        self.yes
            || matches!(
                self.action,
                EnvAction::Set { yes: true, .. } | EnvAction::Unset { yes: true, .. }
            )
    }
}

/// `duncan env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvAction {
    /// Print every variable as KEY=VALUE, sorted.
    List,
    /// Print the given variables' values, or every variable as KEY=VALUE when none is given.
    Get {
        /// Variable names.
        keys: Vec<String>,
    },
    /// Set variables; everything after the first `=` is the value.
    #[command(after_help = "Example: duncan env set -a dogfood -e stage LOG_LEVEL=debug TZ=UTC")]
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long, alias = "force", short_alias = 'f')]
        yes: bool,
    },
    /// Remove variables.
    #[command(visible_alias = "del")]
    #[command(after_help = "Example: duncan env unset -a dogfood -e stage LOG_LEVEL")]
    Unset {
        /// Variable names.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long, alias = "force", short_alias = 'f')]
        yes: bool,
    },
}

/// Arguments of `duncan scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// App and environment.
    #[command(flatten)]
    pub target: Target,
    /// TYPE=N pairs, as in the Go tool (e.g. web=3 worker=2).
    #[arg(value_name = "TYPE=N", conflicts_with_all = ["kind", "instances"])]
    pub rules: Vec<String>,
    /// The process type to scale (the last part of the Marathon app id, e.g. web).
    #[arg(long = "type", value_name = "TYPE", requires = "instances")]
    pub kind: Option<String>,
    /// The number of instances for --type.
    #[arg(long, value_name = "N", requires = "kind")]
    pub instances: Option<u32>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long, alias = "force", short_alias = 'f')]
    pub yes: bool,
    /// Give up when the deployment has not finished in this time (e.g. 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_deadline)]
    pub timeout: Option<Duration>,
    /// Force the change through deployments that hold the apps (Marathon's `force=true`).
    #[arg(long)]
    pub force_marathon: bool,
    /// Wait up to this long for a deploy lock held by someone else (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub wait: Option<Duration>,
    /// Leave a failed scale where it stopped instead of letting Marathon revert it.
    #[arg(long)]
    pub no_rollback: bool,
}

/// Arguments of `duncan watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The Marathon deployment id.
    #[arg(value_name = "DEPLOYMENT_ID")]
    pub id: String,
    /// Give up after this long (e.g. 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_deadline)]
    pub timeout: Option<Duration>,
}

/// Arguments of `duncan config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// `duncan config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Show every setting with where it came from (secrets redacted).
    Show,
    /// Search variable names of every configured app and environment (regex `.*PATTERN.*`).
    Search {
        /// A regular expression matched anywhere in the variable name.
        pattern: String,
        /// Only this environment (default: every allowed environment).
        #[arg(short, long)]
        env: Option<String>,
    },
}

/// Arguments of `duncan completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn go_style_env_flags_work_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["duncan", "env", "-a", "x", "-e", "stage", "get"]);
        let after = Cli::try_parse_from(["duncan", "env", "get", "-a", "x", "-e", "stage"]);
        for parsed in [before, after] {
            let Ok(Cli {
                command: Command::Env(env),
                ..
            }) = parsed
            else {
                panic!("env did not parse");
            };
            assert_eq!(env.app.as_deref(), Some("x"));
            assert_eq!(env.env.as_deref(), Some("stage"));
        }
    }

    #[test]
    fn scale_rejects_mixing_pairs_and_type_flag() {
        let parsed = Cli::try_parse_from([
            "duncan",
            "scale",
            "web=3",
            "--type",
            "web",
            "--instances",
            "2",
            "-a",
            "x",
            "-e",
            "stage",
        ]);
        assert!(parsed.is_err());
    }

    #[test]
    fn deploy_force_is_the_prompt_skip_alias() {
        let parsed = Cli::try_parse_from([
            "duncan", "deploy", "-a", "x", "-e", "stage", "-t", "v1", "-f",
        ]);
        let Ok(Cli {
            command: Command::Deploy(args),
            ..
        }) = parsed
        else {
            panic!("deploy did not parse");
        };
        assert!(args.options.skip_prompt());
        assert!(!args.options.force_marathon);
    }
}
