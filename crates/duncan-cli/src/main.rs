//! The `duncan` command line: deploy Docker image tags to Mesos Marathon, with the deploy lock,
//! release tags, history and audit log kept in Consul.
//!
//! This binary is the only part of duncan that prints, prompts, reads environment variables and
//! files, or exits; the domain lives in `duncan-core`.

mod cli;
mod commands;
mod config;
mod duration;
mod explain;
mod failure;
mod interrupt;
mod output;
mod progress;
mod prompt;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::failure::{ExitStatus, Failure};
use crate::output::{RED, paint};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version are not errors; every real usage error exits 2.
            let code = if e.use_stderr() {
                ExitStatus::Usage.code()
            } else {
                ExitStatus::Ok.code()
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    output::init_color(cli.global.color, cli.global.json);
    let json = cli.global.json;
    init_tracing(cli.global.verbose, cli.global.quiet);

    // A bug must still end in one line, not a Rust backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "error: duncan stopped on an internal error ({what}{at})\n  this is a bug in duncan; \
             please report it with the command you ran"
        );
    }));
    let status = match std::panic::catch_unwind(|| commands::run(cli)) {
        Ok(Ok(status)) => status,
        Ok(Err(failure)) => {
            report(&failure, json);
            failure.status
        }
        Err(_) => ExitStatus::Error,
    };
    ExitCode::from(status.code())
}

/// Prints a failure as one line, plus what to do next.
fn report(failure: &Failure, json: bool) {
    // An empty message is a failure already told (or a closed pipe): nothing more to say.
    if failure.message.is_empty() {
        return;
    }
    // With --json, scripts reading stdout get the failure as a document too.
    if json && failure.status != ExitStatus::Ok {
        let mut document = serde_json::json!({
            "error": {
                "message": failure.message,
                "hint": failure.hint,
                "exit_code": failure.status.code(),
            }
        });
        if !failure.why.is_empty() {
            document["error"]["why"] = serde_json::to_value(&failure.why).unwrap_or_default();
        }
        let _ = output::Output {
            json: true,
            quiet: false,
        }
        .json(&document);
    }
    let mut err = anstream::stderr().lock();
    // A status of 0 with a message is a decision, not an error ("aborted: nothing changed").
    if failure.status == ExitStatus::Ok {
        let _ = writeln!(err, "{}", failure.message);
        return;
    }
    let _ = writeln!(err, "{} {}", paint(RED, "error:"), failure.message);
    if let Some(hint) = &failure.hint {
        let _ = writeln!(err, "  {hint}");
    }
}

/// Sends tracing to stderr in one compact format, without timestamps.
///
/// By default only duncan's own warnings (as `warning: …`, the format of every other warning)
/// and errors; the libraries (consul_client, marathon_client, registry_client, reqwest, hyper…)
/// say nothing, since their retries are not the user's business. `-v` adds duncan's own steps
/// (`duncan: …`), `-vv` everything at debug level (HTTP detail included), `-vvv` trace; `-q`
/// keeps errors only. `RUST_LOG` wins over all of these.
fn init_tracing(verbose: u8, quiet: bool) {
    use std::fmt;

    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::FmtContext;
    use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
    use tracing_subscriber::registry::LookupSpan;

    use crate::output::YELLOW;

    /// `warning: text fields`, `error: …`, or `who: text fields` (`who` is `duncan` for
    /// duncan's crates, else the library's crate).
    struct Compact;

    impl<S, N> FormatEvent<S, N> for Compact
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let meta = event.metadata();
            let krate = meta.target().split("::").next().unwrap_or_default();
            let who = if krate.starts_with("duncan") {
                "duncan"
            } else {
                krate
            };
            match *meta.level() {
                Level::ERROR => write!(writer, "{} ", paint(RED, "error:"))?,
                Level::WARN => write!(writer, "{} ", paint(YELLOW, "warning:"))?,
                Level::INFO => write!(writer, "{who}: ")?,
                Level::DEBUG => write!(writer, "{who}: debug: ")?,
                Level::TRACE => write!(writer, "{who}: trace: ")?,
            }
            ctx.field_format().format_fields(writer.by_ref(), event)?;
            writeln!(writer)
        }
    }

    let own = |level: &str| format!("off,duncan={level},duncan_core={level},duncan_cli={level}");
    let filter = match (quiet, verbose) {
        (true, _) => own("error"),
        (false, 0) => own("warn"),
        (false, 1) => own("info"),
        (false, 2) => "debug".to_owned(),
        (false, _) => "trace".to_owned(),
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::log_writer)
        .with_ansi(false)
        .event_format(Compact)
        .try_init();
}
