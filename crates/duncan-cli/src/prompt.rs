//! The confirmation prompt: `are you sure? (yes/no)`, asked only of a person at a terminal.

use std::io::{self, BufRead, IsTerminal, Write};

use crate::failure::Failure;
use crate::output::{BOLD, paint};

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// They typed `yes`.
    Yes,
    /// Anything else.
    No,
}

/// Asks for confirmation unless `skip` (`--yes`). Without a terminal on stdin and stderr nobody
/// can answer, so that is an error telling to pass `flag`.
pub fn confirm(skip: bool, flag: &str) -> Result<Answer, Failure> {
    if skip {
        return Ok(Answer::Yes);
    }
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(
            Failure::usage("confirmation needed, but there is no terminal to ask on")
                .hint(format!("pass {flag} to go ahead without a prompt")),
        );
    }
    let mut err = anstream::stderr().lock();
    let _ = write!(err, "\n{} ", paint(BOLD, "are you sure? (yes/no):"));
    let _ = err.flush();
    drop(err);
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::error(format!("cannot read the answer: {e}")))?;
    Ok(answer(&line))
}

/// Reads an answer: only `yes` (surrounding spaces ignored) is yes, as in the Go tool.
pub fn answer(line: &str) -> Answer {
    if line.trim() == "yes" {
        Answer::Yes
    } else {
        Answer::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_is_yes() {
        assert_eq!(answer("yes\n"), Answer::Yes);
        assert_eq!(answer("  yes "), Answer::Yes);
        for no in ["y", "YES", "no", "", "yes please"] {
            assert_eq!(answer(no), Answer::No, "{no}");
        }
    }
}
