//! Everything duncan writes: coloured text through `anstream` (which drops colour when it is not
//! wanted), tables that fit the terminal, JSON documents and JSON lines.

use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::cli::ColorWhen;

/// Bold green: non-production environments, success.
pub const GREEN: Style = AnsiColor::Green.on_default().bold();
/// Bold red: production, failures.
pub const RED: Style = AnsiColor::Red.on_default().bold();
/// Bold yellow: app names, warnings.
pub const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
/// Bold cyan: tags and values.
pub const CYAN: Style = AnsiColor::Cyan.on_default().bold();
/// Bold: headings.
pub const BOLD: Style = Style::new().bold();
/// Dimmed: secondary details.
pub const DIM: Style = Style::new().dimmed();

/// Wraps `text` in `style` (anstream strips the codes when colour is off).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// An environment name coloured as the Go tool did: red for production, green otherwise.
pub fn env_name(env: &str) -> String {
    paint(if env == "production" { RED } else { GREEN }, env)
}

/// Sets the colour choice for every later write, from `--color` and `NO_COLOR`.
pub fn init_color(when: ColorWhen, json: bool) {
    let choice = match when {
        _ if json => anstream::ColorChoice::Never,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
        // anstream's auto mode honours NO_COLOR, CLICOLOR(_FORCE) and whether it is a terminal.
        ColorWhen::Auto => anstream::ColorChoice::Auto,
    };
    choice.write_global();
}

/// How the user asked to see results.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// `-q`.
    pub quiet: bool,
}

impl Output {
    /// Writes a line on stdout.
    pub fn line(&self, text: impl AsRef<str>) -> io::Result<()> {
        let mut out = anstream::stdout().lock();
        writeln!(out, "{}", text.as_ref())
    }

    /// Writes an informational line on stderr (skipped with `-q` and `--json`), erasing the
    /// progress line first if one is drawn.
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet && !self.json {
            crate::progress::erase_line();
            let _ = writeln!(anstream::stderr().lock(), "{}", text.as_ref());
        }
    }

    /// Writes a warning on stderr (kept with `-q` and `--json`: warnings matter), erasing the
    /// progress line first if one is drawn.
    pub fn warn(&self, text: impl AsRef<str>) {
        crate::progress::erase_line();
        let _ = writeln!(
            anstream::stderr().lock(),
            "{} {}",
            paint(YELLOW, "warning:"),
            text.as_ref()
        );
    }

    /// Writes one JSON document on stdout, in one write: stdout is line-buffered, and a
    /// pretty-printed document is a line per value (a report's is hundreds of thousands).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(value).map_err(json_io_error)?;
        text.push(b'\n');
        let mut out = io::stdout().lock();
        out.write_all(&text)?;
        out.flush()
    }

    /// Writes one JSON line on stdout and flushes it, for streams.
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> io::Result<()> {
        let mut out = io::stdout().lock();
        serde_json::to_writer(&mut out, value).map_err(json_io_error)?;
        writeln!(out)?;
        out.flush()
    }
}

/// Keeps the kind of an I/O error inside a JSON error, so a closed pipe stays a closed pipe.
fn json_io_error(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::from(kind),
        None => io::Error::other(e),
    }
}

/// Whether stderr is a terminal (progress lines and prompts go there).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// The width tables must fit in: the terminal's, `COLUMNS`, or none when stdout is not a
/// terminal (piped output is never cut).
pub fn table_width() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
        return Some(usize::from(w));
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// The width of the terminal on stderr, for the progress line.
pub fn stderr_width() -> Option<usize> {
    terminal_size::terminal_size_of(io::stderr()).map(|(terminal_size::Width(w), _)| usize::from(w))
}

/// One cell of a table: plain text for width, with a style for display.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    /// A plain cell.
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            style: Style::new(),
        }
    }

    /// A styled cell.
    pub fn styled(text: impl Into<String>, style: Style) -> Self {
        Self {
            text: text.into(),
            style,
        }
    }

    /// An environment name, red for production and green otherwise.
    pub fn env(env: &str) -> Self {
        Self::styled(env, if env == "production" { RED } else { GREEN })
    }
}

/// Renders a table with a bold header; when `width` is given, the widest columns are shortened
/// (with `…`) until the table fits.
pub fn render_table(header: &[&str], rows: &[Vec<Cell>], width: Option<usize>) -> Vec<String> {
    const GAP: usize = 2;
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
    }
    if let Some(limit) = width {
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        // The last column is free text (a state, a message): it gives way first, down to 12
        // characters; then the widest column, one character at a time, never below 4.
        while total(&widths) > limit {
            let last = widths.len().saturating_sub(1);
            let target = match widths.get(last) {
                Some(&w) if w > 12 => Some(last),
                _ => widths
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| **w > 4)
                    .max_by_key(|(_, w)| **w)
                    .map(|(i, _)| i),
            };
            let Some(slot) = target.and_then(|i| widths.get_mut(i)) else {
                break;
            };
            *slot -= 1;
        }
    }
    let fit = |text: &str, w: usize| -> String {
        if text.chars().count() <= w {
            text.to_owned()
        } else {
            let mut cut: String = text.chars().take(w.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
    };
    let line = |cells: Vec<(String, Style)>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (text, style)) in cells.into_iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let shown = fit(&text, w);
            let pad = if i == last {
                0
            } else {
                w - shown.chars().count() + GAP
            };
            out.push_str(&paint(style, &shown));
            out.push_str(&" ".repeat(pad));
        }
        out
    };
    let mut lines = vec![line(
        header.iter().map(|h| ((*h).to_owned(), BOLD)).collect(),
    )];
    for row in rows {
        lines.push(line(
            row.iter()
                .take(columns)
                .map(|c| (c.text.clone(), c.style))
                .collect(),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| anstream::adapter::strip_str(l).to_string())
            .collect()
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec![
                Cell::plain("dogfood"),
                Cell::env("stage"),
                Cell::plain("v1"),
            ],
            vec![
                Cell::plain("a"),
                Cell::env("production"),
                Cell::plain("v22"),
            ],
        ];
        let lines = strip(&render_table(&["APP", "ENV", "TAG"], &rows, None));
        assert_eq!(
            lines,
            [
                "APP      ENV         TAG",
                "dogfood  stage       v1",
                "a        production  v22"
            ]
        );
    }

    #[test]
    fn table_shrinks_widest_column_to_fit_width() {
        let rows = vec![vec![
            Cell::plain("x"),
            Cell::plain("a-very-long-value-that-does-not-fit"),
        ]];
        let lines = strip(&render_table(&["K", "VALUE"], &rows, Some(20)));
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert!(lines.iter().any(|l| l.ends_with('…')), "{lines:?}");
    }

    #[test]
    fn production_is_red_and_other_environments_green() {
        assert_eq!(env_name("production"), format!("{RED}production{RED:#}"));
        assert_eq!(env_name("stage"), format!("{GREEN}stage{GREEN:#}"));
    }
}
