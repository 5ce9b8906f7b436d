//! Drawing duncan-core's progress values: one redrawn line on a terminal's stderr, plain lines
//! for the notable events elsewhere, JSON lines for `--json` streams.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use duncan_core::progress::{Progress, ProgressSink};

use crate::output::{Output, YELLOW, paint, stderr_is_terminal};

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A redrawn line on a terminal.
    Line,
    /// Notable events as plain lines on stderr (not a terminal).
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
    tick: usize,
    drawn: bool,
    paused: bool,
}

/// The progress display of one long operation.
#[derive(Debug, Clone)]
pub struct ProgressView {
    mode: Mode,
    started: Instant,
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
            ..State::default()
        };
        Self {
            mode,
            started: Instant::now(),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The sink to hand to duncan-core.
    pub fn sink(&self) -> ProgressSink {
        let view = self.clone();
        ProgressSink::new(move |p| view.show(&p))
    }

    /// Redraws the spinner every 100 ms until the returned guard is dropped (terminals only).
    pub fn spin(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.mode != Mode::Line {
            return None;
        }
        let view = self.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                view.redraw();
            }
        }))
    }

    /// Stops drawing (and erases the line) while the user is asked something; `false` resumes.
    pub fn pause(&self, paused: bool) {
        if paused {
            self.clear();
        }
        self.lock().paused = paused;
    }

    /// Runs `print` with the line erased and no redraw in between, so what it prints is not
    /// mixed with the progress line. `print` must not use this view.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        let mut state = self.lock();
        if self.mode == Mode::Line && state.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            state.drawn = false;
        }
        print()
    }

    /// Erases the line, before anything else is printed.
    pub fn clear(&self) {
        if self.mode != Mode::Line {
            return;
        }
        let mut state = self.lock();
        if state.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            state.drawn = false;
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
                    state.step = None;
                    state.health.clear();
                    Some(progress.to_string())
                }
                Progress::ConfirmingOverRest => {
                    state.phase = "confirming".to_owned();
                    None
                }
                Progress::RecordingRelease => {
                    state.phase = "recording the release".to_owned();
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
                (Mode::Line | Mode::Lines, None) => {
                    self.suspend(|| {
                        let _ = writeln!(anstream::stderr().lock(), "{text}");
                    });
                }
                (Mode::Quiet | Mode::Json, _) => {}
            }
        }
        self.redraw();
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
        let mut line = format!("{spinner} {}", state.phase);
        if let Some((k, n)) = state.step {
            line.push_str(&format!(" · step {k}/{n}"));
        }
        for (app, (healthy, target)) in &state.health {
            let short = app.rsplit('/').next().unwrap_or(app);
            line.push_str(&format!(" · {short} {healthy}/{target} healthy"));
        }
        line.push_str(&format!(" · {}s", self.started.elapsed().as_secs()));
        let width = crate::output::stderr_width().unwrap_or(100);
        let line: String = line.chars().take(width.saturating_sub(1)).collect();
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
        state.drawn = true;
    }
}
