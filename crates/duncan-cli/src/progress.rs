//! Drawing duncan-core's progress values: one redrawn line on a terminal's stderr, plain lines
//! for the notable events elsewhere, JSON lines for `--json` streams.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use duncan_core::progress::{Progress, ProgressSink};

use crate::output::{Output, YELLOW, paint, stderr_is_terminal};

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// How often a plain progress line is printed while nothing else is (not on a terminal), unless
/// `DUNCAN_PROGRESS_INTERVAL` says otherwise: often enough for CI systems that end jobs silent
/// for a few minutes, rarely enough to keep a log readable.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The variable that sets the interval of the plain progress lines (`10s`, `1m`, `500ms`).
pub const INTERVAL_VARIABLE: &str = "DUNCAN_PROGRESS_INTERVAL";

/// Whether a progress line is drawn on stderr now. There is one stderr, so one flag for every
/// view; anything else that writes to stderr while a line may be drawn (the log writer) erases
/// it first, under this lock.
static LINE_DRAWN: Mutex<bool> = Mutex::new(false);

const ERASE: &str = "\r\x1b[2K";

/// Erases the progress line if one is drawn. The next redraw brings it back.
pub fn erase_line() {
    let mut drawn = LINE_DRAWN.lock().unwrap_or_else(PoisonError::into_inner);
    if *drawn {
        let _ = write!(std::io::stderr().lock(), "{ERASE}");
        *drawn = false;
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A redrawn line on a terminal.
    Line,
    /// Plain lines on stderr (not a terminal): notable events, phase changes, and the state
    /// every interval while nothing else is said.
    Lines,
    /// Every value as a JSON line on stdout (`--json` streams).
    Json,
    /// Nothing but warnings (`--json` documents, `-q`).
    Quiet,
}

#[derive(Debug, Default)]
struct State {
    phase: String,
    step: Option<(u32, u32)>,
    health: BTreeMap<String, (u32, u32)>,
    /// Seconds Marathon has not answered, while it does not.
    unreachable: Option<u64>,
    tick: usize,
    paused: bool,
    /// When the last plain line was printed (not on a terminal).
    last_line: Option<Instant>,
    /// The phase and step the last plain line showed.
    last_phase: Option<(String, Option<(u32, u32)>)>,
    /// Marathon's rollback of a failed deployment is running: its end is the rollback's, never
    /// the new version's, and the counts are those of the version being restored.
    rolling_back: bool,
}

impl State {
    /// What the line says after the phase: the step, each app's health, Marathon's silence.
    fn details(&self) -> Vec<String> {
        let mut details = Vec::new();
        if let Some(secs) = self.unreachable {
            details.push(format!(
                "Marathon unreachable for {secs}s, retrying; counts are stale"
            ));
        }
        if let Some((k, n)) = self.step {
            details.push(format!("step {k}/{n}"));
        }
        for (app, (healthy, target)) in &self.health {
            let short = app.rsplit('/').next().unwrap_or(app);
            if self.rolling_back {
                details.push(format!(
                    "{short} {healthy}/{target} back on the previous version"
                ));
            } else {
                details.push(format!("{short} {healthy}/{target} healthy"));
            }
        }
        details
    }
}

/// The progress line for a terminal `width` characters wide: `{spinner} {phase} · {details…} ·
/// {elapsed}s`. When it does not fit, details are dropped from the end first, then the phase is
/// shortened (with `…`); the elapsed time is always kept. One column is left free, so the
/// cursor never wraps to the next line.
pub fn fit_line(
    spinner: char,
    phase: &str,
    details: &[String],
    elapsed: u64,
    width: usize,
) -> String {
    let room = width.saturating_sub(1);
    let tail = format!(" · {elapsed}s");
    let head = format!("{spinner} {phase}");
    let count = |s: &str| s.chars().count();
    let mut kept = details.len();
    loop {
        let mut line = head.clone();
        for detail in details.iter().take(kept) {
            line.push_str(" · ");
            line.push_str(detail);
        }
        if count(&line) + count(&tail) <= room {
            line.push_str(&tail);
            return line;
        }
        if kept == 0 {
            break;
        }
        kept -= 1;
    }
    // Even the phase alone does not fit: shorten it, keeping the spinner and the time.
    let left = room.saturating_sub(count(&tail) + 2);
    let mut short: String = phase.chars().take(left.saturating_sub(1)).collect();
    if left > 0 {
        short.push('…');
    }
    let line = format!("{spinner} {short}{tail}");
    line.chars().take(room).collect()
}

/// The plain line printed when stderr is not a terminal: `[12s] deploying, step 1/1, web 1/2
/// healthy`.
fn plain_line(phase: &str, details: &[String], elapsed: u64) -> String {
    let mut line = format!("[{elapsed}s] {phase}");
    for detail in details {
        line.push_str(", ");
        line.push_str(detail);
    }
    line
}

/// The interval of the plain lines: `DUNCAN_PROGRESS_INTERVAL` when it holds a duration of at
/// least 100 ms, else [`DEFAULT_INTERVAL`] (with a warning for a value that is not a duration).
fn interval() -> Duration {
    let Ok(text) = std::env::var(INTERVAL_VARIABLE) else {
        return DEFAULT_INTERVAL;
    };
    match crate::duration::parse_duration(&text) {
        Ok(d) if d >= Duration::from_millis(100) => d,
        Ok(_) => {
            warn(&format!(
                "{INTERVAL_VARIABLE}={text} is shorter than 100ms; using {}s",
                DEFAULT_INTERVAL.as_secs()
            ));
            DEFAULT_INTERVAL
        }
        Err(e) => {
            warn(&format!(
                "{INTERVAL_VARIABLE}: {e}; using {}s",
                DEFAULT_INTERVAL.as_secs()
            ));
            DEFAULT_INTERVAL
        }
    }
}

fn warn(message: &str) {
    erase_line();
    let _ = writeln!(
        anstream::stderr().lock(),
        "{} {message}",
        paint(YELLOW, "warning:")
    );
}

/// The progress display of one long operation.
#[derive(Debug, Clone)]
pub struct ProgressView {
    mode: Mode,
    started: Instant,
    interval: Duration,
    state: Arc<Mutex<State>>,
}

impl ProgressView {
    /// A display for `out`; `stream` says whether `--json` prints every value as a JSON line.
    pub fn new(out: Output, stream: bool, phase: &str) -> Self {
        let mode = match (out.json, stream, out.quiet) {
            (true, true, _) => Mode::Json,
            (true, false, _) | (false, _, true) => Mode::Quiet,
            (false, _, false) if stderr_is_terminal() => Mode::Line,
            (false, _, false) => Mode::Lines,
        };
        let state = State {
            phase: phase.to_owned(),
            // The first phase is not news: a line is printed when it changes.
            last_phase: Some((phase.to_owned(), None)),
            ..State::default()
        };
        Self {
            mode,
            started: Instant::now(),
            interval: if mode == Mode::Lines {
                interval()
            } else {
                DEFAULT_INTERVAL
            },
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The sink to hand to duncan-core.
    pub fn sink(&self) -> ProgressSink {
        let view = self.clone();
        ProgressSink::new(move |p| view.show(&p))
    }

    /// Keeps the display alive until the returned task is aborted: on a terminal the spinner is
    /// redrawn every 100 ms; elsewhere the state is printed as a plain line whenever no line was
    /// printed for the interval, so a job's log is never silent for long.
    pub fn spin(&self) -> Option<tokio::task::JoinHandle<()>> {
        let view = self.clone();
        match self.mode {
            Mode::Line => Some(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    view.redraw();
                }
            })),
            Mode::Lines => Some(tokio::spawn(async move {
                loop {
                    let since = view.lock().last_line.unwrap_or(view.started).elapsed();
                    if since >= view.interval {
                        view.print_state();
                    } else {
                        tokio::time::sleep(view.interval - since).await;
                    }
                }
            })),
            Mode::Json | Mode::Quiet => None,
        }
    }

    /// Stops drawing (and erases the line) while the user is asked something; `false` resumes.
    pub fn pause(&self, paused: bool) {
        let mut state = self.lock();
        if paused && self.mode == Mode::Line {
            erase_line();
        }
        state.paused = paused;
    }

    /// Runs `print` with the line erased and no redraw in between, so what it prints is not
    /// mixed with the progress line. `print` must not use this view.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        // Holding the state keeps the spinner from redrawing until `print` is done.
        let _state = self.lock();
        if self.mode == Mode::Line {
            erase_line();
        }
        print()
    }

    /// Erases the line, before anything else is printed.
    pub fn clear(&self) {
        if self.mode == Mode::Line {
            let _state = self.lock();
            erase_line();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn show(&self, progress: &Progress) {
        if self.mode == Mode::Json {
            let _ = Output {
                json: true,
                quiet: false,
            }
            .json_line(progress);
            return;
        }
        let notable = {
            let mut state = self.lock();
            match progress {
                Progress::Step { k, n } => {
                    state.step = Some((*k, *n));
                    None
                }
                Progress::AppHealth {
                    app,
                    healthy,
                    target,
                } => {
                    state.health.insert(app.clone(), (*healthy, *target));
                    None
                }
                // Steps a person does not need to be told about on a log.
                Progress::PlanReady(_)
                | Progress::Done
                | Progress::AccessChecked
                | Progress::ImageChecked { .. }
                | Progress::ImageCheckSkipped { .. }
                | Progress::StreamReconnected => None,
                Progress::WaitingForLock { .. } => {
                    state.phase = "waiting for the lock".to_owned();
                    Some(progress.to_string())
                }
                Progress::LockAcquired => {
                    state.phase = "lock acquired".to_owned();
                    None
                }
                Progress::DeploymentStarted { .. } => {
                    state.phase = "deploying".to_owned();
                    Some(progress.to_string())
                }
                Progress::RollbackStarted { .. } => {
                    state.phase = "rolling back".to_owned();
                    state.rolling_back = true;
                    state.step = None;
                    state.health.clear();
                    Some(progress.to_string())
                }
                // The end of a rollback is confirmed too, but it is still the rollback.
                Progress::ConfirmingOverRest if state.rolling_back => None,
                Progress::ConfirmingOverRest => {
                    state.phase = "confirming".to_owned();
                    None
                }
                Progress::RecordingRelease => {
                    state.phase = "recording the release".to_owned();
                    None
                }
                // Said once when it starts (with why); the line then counts the seconds.
                Progress::MarathonUnreachable { for_secs, .. } => {
                    let first = state.unreachable.is_none();
                    state.unreachable = Some(*for_secs);
                    first.then(|| progress.to_string())
                }
                Progress::MarathonReachable => {
                    state.unreachable = None;
                    Some(progress.to_string())
                }
                // The command says it once, with what a second signal does.
                Progress::Interrupting => {
                    state.phase = "interrupting: cleaning up".to_owned();
                    None
                }
                _ => Some(progress.to_string()),
            }
        };
        if let Some(text) = notable {
            // Warnings (and a lost lock) are said even with -q: they matter.
            let warning = match progress {
                Progress::Warning { message } => Some(message.clone()),
                Progress::LockLost { .. } => Some(text.clone()),
                _ => None,
            };
            match (self.mode, warning) {
                (Mode::Line | Mode::Lines | Mode::Quiet, Some(message)) => {
                    self.suspend(|| {
                        let _ = writeln!(
                            anstream::stderr().lock(),
                            "{} {message}",
                            paint(YELLOW, "warning:")
                        );
                    });
                }
                (Mode::Line, None) => {
                    self.suspend(|| {
                        let _ = writeln!(anstream::stderr().lock(), "{text}");
                    });
                }
                (Mode::Lines, None) => {
                    let mut state = self.lock();
                    let elapsed = self.started.elapsed().as_secs();
                    let _ = writeln!(anstream::stderr().lock(), "[{elapsed}s] {text}");
                    state.last_line = Some(Instant::now());
                    state.last_phase = Some((state.phase.clone(), state.step));
                }
                (Mode::Quiet | Mode::Json, _) => {}
            }
        }
        match self.mode {
            Mode::Line => self.redraw(),
            Mode::Lines => {
                let changed = {
                    let state = self.lock();
                    state.last_phase.as_ref() != Some(&(state.phase.clone(), state.step))
                };
                if changed {
                    self.print_state();
                }
            }
            Mode::Json | Mode::Quiet => {}
        }
    }

    /// Prints the state as a plain line (not on a terminal).
    fn print_state(&self) {
        let mut state = self.lock();
        let line = plain_line(
            &state.phase,
            &state.details(),
            self.started.elapsed().as_secs(),
        );
        let _ = writeln!(anstream::stderr().lock(), "{line}");
        state.last_line = Some(Instant::now());
        state.last_phase = Some((state.phase.clone(), state.step));
    }

    fn redraw(&self) {
        if self.mode != Mode::Line {
            return;
        }
        let mut state = self.lock();
        if state.paused {
            return;
        }
        state.tick = state.tick.wrapping_add(1);
        let spinner = SPINNER
            .get(state.tick % SPINNER.len())
            .copied()
            .unwrap_or('*');
        // A terminal that reports no width (a fresh pty) is taken as 100 columns.
        let width = crate::output::stderr_width()
            .filter(|w| *w > 0)
            .unwrap_or(100);
        let line = fit_line(
            spinner,
            &state.phase,
            &state.details(),
            self.started.elapsed().as_secs(),
            width,
        );
        let mut drawn = LINE_DRAWN.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{ERASE}{line}");
        let _ = err.flush();
        *drawn = true;
    }
}

/// A `tracing` writer for stderr that erases the progress line before each log line, so the
/// two never share a line; the spinner redraws the progress line after it.
pub fn log_writer() -> LogWriter {
    LogWriter(Vec::new())
}

/// See [`log_writer`]: buffers one event, and writes it when dropped.
pub struct LogWriter(Vec<u8>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let mut drawn = LINE_DRAWN.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = anstream::stderr().lock();
        if *drawn {
            let _ = write!(err, "{ERASE}");
            *drawn = false;
        }
        let _ = err.write_all(&self.0);
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_line_that_fits_keeps_every_detail() {
        let line = fit_line(
            '*',
            "deploying",
            &details(&["step 1/2", "web 1/2 healthy"]),
            12,
            80,
        );
        assert_eq!(line, "* deploying · step 1/2 · web 1/2 healthy · 12s");
    }

    #[test]
    fn a_narrow_terminal_drops_details_from_the_end_and_keeps_phase_and_time() {
        let all = details(&["step 1/2", "web 1/2 healthy", "worker 0/1 healthy"]);
        let line = fit_line('*', "deploying", &all, 125, 40);
        assert_eq!(line, "* deploying · step 1/2 · 125s");
        assert!(line.chars().count() < 40);
        let line = fit_line('*', "deploying", &all, 125, 25);
        assert_eq!(line, "* deploying · 125s");
    }

    #[test]
    fn a_phase_longer_than_the_terminal_is_shortened_but_the_time_stays() {
        let line = fit_line('*', "recording the release", &details(&["step 2/2"]), 7, 16);
        assert!(line.ends_with(" · 7s"), "{line}");
        assert!(line.starts_with("* rec"), "{line}");
        assert!(line.contains('…'), "{line}");
        assert_eq!(line.chars().count(), 15, "{line}");
    }

    #[test]
    fn a_tiny_width_never_panics_or_overflows() {
        for width in 0..8 {
            let line = fit_line('*', "deploying", &details(&["step 1/2"]), 3, width);
            assert!(
                line.chars().count() <= width.saturating_sub(1),
                "{width}: {line}"
            );
        }
    }

    #[test]
    fn plain_lines_start_with_the_elapsed_time() {
        assert_eq!(
            plain_line("deploying", &details(&["step 1/1", "web 1/2 healthy"]), 12),
            "[12s] deploying, step 1/1, web 1/2 healthy"
        );
    }

    #[test]
    fn the_rollbacks_end_is_rolling_back_with_counts_of_the_previous_version() {
        let view = ProgressView::new(
            Output {
                json: false,
                quiet: true,
            },
            false,
            "deploying",
        );
        view.show(&Progress::ConfirmingOverRest);
        assert_eq!(view.lock().phase, "confirming");
        view.show(&Progress::RollbackStarted { id: "r".into() });
        view.show(&Progress::ConfirmingOverRest);
        view.show(&Progress::AppHealth {
            app: "/shop-stage/web".into(),
            healthy: 2,
            target: 2,
        });
        let state = view.lock();
        assert_eq!(state.phase, "rolling back");
        assert_eq!(state.details(), ["web 2/2 back on the previous version"]);
    }

    #[test]
    fn an_unreachable_marathon_is_shown_with_its_seconds_and_stale_counts() {
        let state = State {
            phase: "deploying".to_owned(),
            unreachable: Some(35),
            step: Some((1, 1)),
            ..State::default()
        };
        assert_eq!(
            state.details()[0],
            "Marathon unreachable for 35s, retrying; counts are stale"
        );
    }
}
