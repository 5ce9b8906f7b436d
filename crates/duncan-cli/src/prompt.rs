//! The confirmation prompt, asked only of a person at a terminal: `yes` goes ahead, and for the
//! environments under `confirm_by_name` (by default `production` / `prod`) only the
//! environment's name does, as heroku and gh ask for destructive actions. Anything else aborts.

use std::io::{self, BufRead, IsTerminal, Write};

use crate::failure::Failure;
use crate::output::{BOLD, RED, paint};

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// They typed what was asked for.
    Yes,
    /// Anything else.
    No,
}

/// What the person must type to go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `yes`.
    Yes,
    /// The name of the environment about to be changed.
    Name(String),
}

impl Expect {
    /// The question, saying exactly what confirms.
    fn question(&self) -> String {
        match self {
            Self::Yes => format!(
                "{} ",
                paint(
                    BOLD,
                    "are you sure? type yes to go ahead, anything else aborts:"
                )
            ),
            Self::Name(name) => format!(
                "{} {} {} ",
                paint(BOLD, "this changes"),
                paint(RED, name),
                paint(
                    BOLD,
                    format!("- type its name ({name}) to go ahead, anything else aborts:")
                )
            ),
        }
    }

    /// Reads an answer: only the expected word (surrounding spaces ignored, case kept) confirms;
    /// `yes` alone does not confirm a name.
    pub fn answer(&self, line: &str) -> Answer {
        let wanted = match self {
            Self::Yes => "yes",
            Self::Name(name) => name.as_str(),
        };
        if line.trim() == wanted {
            Answer::Yes
        } else {
            Answer::No
        }
    }
}

/// Asks for `yes` unless `skip` (`--yes`). Without a terminal on stdin and stderr nobody can
/// answer, so that is an error telling to pass `flag`.
pub fn confirm(skip: bool, flag: &str) -> Result<Answer, Failure> {
    if skip {
        return Ok(Answer::Yes);
    }
    confirm_expecting(&Expect::Yes, flag)
}

/// Asks for what `expect` says, on the terminal. Without one, an error telling to pass `flag`.
pub fn confirm_expecting(expect: &Expect, flag: &str) -> Result<Answer, Failure> {
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(
            Failure::usage("confirmation needed, but there is no terminal to ask on")
                .hint(format!("pass {flag} to go ahead without a prompt")),
        );
    }
    ask(
        expect,
        &mut io::stdin().lock(),
        &mut anstream::stderr().lock(),
    )
    .map_err(|e| Failure::error(format!("cannot read the answer: {e}")))
}

/// Writes the question to `to` and reads one line of answer from `from`.
fn ask(expect: &Expect, from: &mut impl BufRead, to: &mut impl Write) -> io::Result<Answer> {
    write!(to, "\n{}", expect.question())?;
    to.flush()?;
    let mut line = String::new();
    from.read_line(&mut line)?;
    Ok(expect.answer(&line))
}

/// What confirms a change of `env`: its name when it is listed in `by_name`, else `yes`.
pub fn expect_for(env: &str, by_name: &[String]) -> Expect {
    if by_name.iter().any(|e| e == env) {
        Expect::Name(env.to_owned())
    } else {
        Expect::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(expect: &Expect, typed: &str) -> (Answer, String) {
        let mut screen = Vec::new();
        let answer = ask(expect, &mut typed.as_bytes(), &mut screen).unwrap();
        (answer, String::from_utf8(screen).unwrap())
    }

    #[test]
    fn only_yes_is_yes() {
        for yes in ["yes\n", "  yes "] {
            assert_eq!(Expect::Yes.answer(yes), Answer::Yes, "{yes}");
        }
        for no in ["y", "YES", "no", "", "yes please"] {
            assert_eq!(Expect::Yes.answer(no), Answer::No, "{no}");
        }
    }

    #[test]
    fn the_question_says_what_confirms() {
        let (answer, screen) = asked(&Expect::Yes, "yes\n");
        assert_eq!(answer, Answer::Yes);
        assert!(
            screen.contains("type yes to go ahead, anything else aborts"),
            "{screen}"
        );
    }

    #[test]
    fn a_named_environment_is_confirmed_by_its_name_only() {
        let expect = Expect::Name("production".to_owned());
        let (answer, screen) = asked(&expect, "yes\n");
        assert_eq!(answer, Answer::No, "yes is not the name");
        assert!(
            screen.contains("type its name (production) to go ahead"),
            "{screen}"
        );
        assert_eq!(asked(&expect, "production\n").0, Answer::Yes);
        assert_eq!(asked(&expect, " production \n").0, Answer::Yes);
        for no in ["Production", "prod", "", "production!"] {
            assert_eq!(expect.answer(no), Answer::No, "{no}");
        }
    }

    #[test]
    fn an_answer_cut_short_aborts() {
        let (answer, _) = asked(&Expect::Yes, "");
        assert_eq!(answer, Answer::No);
    }

    #[test]
    fn expect_for_asks_the_name_of_listed_environments_only() {
        let by_name = vec!["production".to_owned()];
        assert_eq!(
            expect_for("production", &by_name),
            Expect::Name("production".to_owned())
        );
        assert_eq!(expect_for("stage", &by_name), Expect::Yes);
        assert_eq!(expect_for("production", &[]), Expect::Yes);
    }
}
