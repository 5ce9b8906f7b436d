//! What went wrong, said once, with the exit code scripts rely on.
//!
//! Every command returns a [`Failure`] instead of printing errors itself: `main` prints it as one
//! line (plus what to do next) and exits with its code.

use std::fmt;

/// duncan's documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done, or nothing to do.
    Ok,
    /// 1: an error (a service unreachable, a missing group, a refused request…).
    Error,
    /// 2: the command line or the configuration is wrong.
    Usage,
    /// 3: someone else holds the deploy lock.
    LockHeld,
    /// 4: the deployment failed or timed out and was rolled back.
    RolledBack,
    /// 5: the deployment failed or timed out and was not rolled back.
    NotRolledBack,
    /// 6: the deployment failed while Marathon could not be reached: its state is unknown.
    StateUnknown,
    /// 7: the token may not do this (ACL denied or token unknown).
    NotAllowed,
    /// 130: interrupted by Ctrl-C, SIGTERM or SIGHUP (the shell's convention for SIGINT).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::Usage => 2,
            Self::LockHeld => 3,
            Self::RolledBack => 4,
            Self::NotRolledBack => 5,
            Self::StateUnknown => 6,
            Self::NotAllowed => 7,
            Self::Interrupted => 130,
        }
    }

    /// The status for one of duncan-core's exit codes (unknown codes are errors).
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Self::Ok,
            2 => Self::Usage,
            3 => Self::LockHeld,
            4 => Self::RolledBack,
            5 => Self::NotRolledBack,
            6 => Self::StateUnknown,
            7 => Self::NotAllowed,
            130 => Self::Interrupted,
            _ => Self::Error,
        }
    }
}

/// A failure to report: one line saying what happened, optionally one saying what to do.
#[derive(Debug)]
pub struct Failure {
    /// The exit status to end with.
    pub status: ExitStatus,
    /// What happened, as one sentence without a trailing period.
    pub message: String,
    /// What the user can do next.
    pub hint: Option<String>,
    /// Why a deployment failed, as Marathon told (each app's last task failure, its unhealthy
    /// tasks): the `why` of the `--json` error document. Empty when there is nothing to say.
    pub why: Vec<duncan_core::watch::AppTrouble>,
}

impl Failure {
    /// A failure with the given status and message.
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            hint: None,
            why: Vec::new(),
        }
    }

    /// A general error (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::Error, message)
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::Usage, message)
    }

    /// Adds why a deployment failed, as Marathon told.
    #[must_use]
    pub fn why(mut self, why: &[duncan_core::watch::AppTrouble]) -> Self {
        self.why = why.to_vec();
        self
    }

    /// Adds what the user can do next.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Joins an error and its sources into one line (`outer: inner: root`), skipping a source whose
/// text the outer message already contains, so nothing is said twice.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// The result of a command: the exit status on success (0, or 4/5 for a reported failed deploy).
pub type CommandResult = Result<ExitStatus, Failure>;

impl From<std::io::Error> for Failure {
    /// Writing output failed. A closed pipe (`duncan status | head`) is not an error: it ends
    /// quietly with exit 0.
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::new(ExitStatus::Ok, "")
        } else {
            Self::error(format!("cannot write the output: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection refused")
        }
    }
    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot reach Consul")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chain_joins_causes_on_one_line() {
        assert_eq!(
            error_chain(&Outer(Inner)),
            "cannot reach Consul: connection refused"
        );
    }

    #[test]
    fn exit_codes_match_the_documentation() {
        let codes: Vec<u8> = [
            ExitStatus::Ok,
            ExitStatus::Error,
            ExitStatus::Usage,
            ExitStatus::LockHeld,
            ExitStatus::RolledBack,
            ExitStatus::NotRolledBack,
            ExitStatus::NotAllowed,
            ExitStatus::Interrupted,
        ]
        .iter()
        .map(|s| s.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 7, 130]);
        for code in codes {
            assert_eq!(ExitStatus::from_code(i32::from(code)).code(), code);
        }
    }
}
