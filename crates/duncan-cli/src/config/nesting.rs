//! How deeply a configuration file nests, measured before the YAML parser sees it.
//!
//! libyaml (under serde_yaml) takes time quadratic in the depth of flow collections: a file
//! of 100,000 `[` took it most of a minute to refuse. duncan's settings nest four levels at
//! most (`apps: {name: {marathon: [file]}}`), so a file deeper than [`MAX_DEPTH`] is refused
//! by this linear scan, which stops at the first place the limit is passed and names it.
//!
//! The scan follows YAML only as far as depth needs: indentation and the indicators `- `,
//! `? ` and `: ` for block collections, brackets and braces for flow collections. Comments,
//! quoted scalars and block scalars (`|`, `>`) are skipped, so brackets in text are not
//! counted. It may count a level more than the parser would (a scalar value is counted as a
//! level of its own), which only matters far beyond any real file.

use std::fmt;

/// The deepest nesting accepted: far more than duncan's keys need, and well under
/// serde_yaml's own recursion limit (128), so that limit is never what refuses a file.
pub const MAX_DEPTH: usize = 64;

/// The file nests deeper than the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    /// The line where the limit was passed (from 1).
    pub line: usize,
    /// The column where the limit was passed (from 1, in characters).
    pub column: usize,
    /// The limit that was passed.
    pub limit: usize,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: nested more than {} levels deep (duncan's settings nest a few \
             levels at most)",
            self.line, self.column, self.limit
        )
    }
}

/// Checks that `text` nests at most `limit` levels deep.
///
/// # Errors
/// [`TooDeep`] naming where the limit was first passed.
pub fn check(text: &str, limit: usize) -> Result<(), TooDeep> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
        block: Vec::new(),
        flow: 0,
        limit,
    };
    while scanner.pos < scanner.bytes.len() {
        scanner.line()?;
    }
    Ok(())
}

/// Bytes that end a token: blanks and line breaks.
fn is_blank(byte: Option<u8>) -> bool {
    matches!(byte, None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The current line, from 1.
    line: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Columns of the open block nodes, innermost last.
    block: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    limit: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn column(&self) -> usize {
        self.pos - self.line_start
    }

    fn too_deep(&self) -> TooDeep {
        let column = self
            .text
            .get(self.line_start..self.pos)
            .map_or(self.column(), |s| s.chars().count());
        TooDeep {
            line: self.line,
            column: column + 1,
            limit: self.limit,
        }
    }

    fn check_depth(&self) -> Result<(), TooDeep> {
        if self.block.len() + self.flow > self.limit {
            return Err(self.too_deep());
        }
        Ok(())
    }

    /// Steps over a line break at `pos`.
    fn newline(&mut self) {
        self.pos += 1;
        self.line += 1;
        self.line_start = self.pos;
    }

    /// Moves to the start of the next line (or the end of the text).
    fn skip_line(&mut self) {
        while let Some(byte) = self.peek() {
            if byte == b'\n' {
                self.newline();
                return;
            }
            self.pos += 1;
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// True at the end of the line's content: a line break, a comment or the end of text.
    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n' | b'\r' | b'#'))
    }

    /// A node at `column` opens: closes the block nodes at or right of it.
    fn open_block(&mut self, column: usize) -> Result<(), TooDeep> {
        while self.block.last().is_some_and(|&open| open >= column) {
            self.block.pop();
        }
        self.block.push(column);
        self.check_depth()
    }

    /// One line in block context, from its start to the start of the next line (or further,
    /// when a flow collection, a quoted scalar or a block scalar goes on).
    fn line(&mut self) -> Result<(), TooDeep> {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        if self.at_line_end() || (self.column() == 0 && self.peek() == Some(b'%')) {
            self.skip_line();
            return Ok(());
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if self.column() == 0
            && (rest.starts_with(b"---") || rest.starts_with(b"..."))
            && is_blank(self.peek_at(3))
        {
            // A document marker: a new document starts at depth 0.
            self.block.clear();
            self.pos += 3;
            self.skip_spaces();
            if self.at_line_end() {
                self.skip_line();
                return Ok(());
            }
        }
        // Whatever is left of the line after its last node is a comment or a scalar's tail.
        if !self.node()? {
            self.skip_line();
        }
        Ok(())
    }

    /// Nodes in block context, starting at `pos`, until the end of the line's content.
    /// True when a block scalar took the following lines and `pos` is at the start of a
    /// line already.
    fn node(&mut self) -> Result<bool, TooDeep> {
        loop {
            let column = self.column();
            // Anchors and tags belong to the node after them, at the same level.
            while matches!(self.peek(), Some(b'&' | b'!')) {
                while !is_blank(self.peek()) {
                    self.pos += 1;
                }
                self.skip_spaces();
            }
            if self.at_line_end() {
                return Ok(false);
            }
            self.open_block(column)?;
            match self.peek() {
                Some(b'-' | b'?' | b':') if is_blank(self.peek_at(1)) => {
                    // A block indicator: the entry's own node follows, one level deeper.
                    self.pos += 1;
                    self.skip_spaces();
                    if self.at_line_end() {
                        return Ok(false);
                    }
                }
                Some(b'[' | b'{') => {
                    // A flow collection counts as its flow levels only.
                    self.block.pop();
                    self.flow_collection()?;
                    if !self.value_follows() {
                        return Ok(false);
                    }
                }
                Some(quote @ (b'\'' | b'"')) => {
                    self.quoted(quote);
                    if !self.value_follows() {
                        return Ok(false);
                    }
                }
                Some(b'|' | b'>') => {
                    self.block_scalar();
                    return Ok(true);
                }
                _ => {
                    if !self.value_follows() {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Reads on through a scalar (or what follows a collection) to the `: ` that starts a
    /// value on the same line. True when such a value follows, with `pos` at its start.
    fn value_follows(&mut self) -> bool {
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => return false,
                b':' if is_blank(self.peek_at(1)) => {
                    self.pos += 1;
                    self.skip_spaces();
                    return !self.at_line_end();
                }
                b'#' if self.pos > 0 && is_blank(self.bytes.get(self.pos - 1).copied()) => {
                    return false;
                }
                _ => self.pos += 1,
            }
        }
        false
    }

    /// A flow collection from its opening bracket to its closing one, across lines.
    fn flow_collection(&mut self) -> Result<(), TooDeep> {
        // Whether a node may start here: a quote then opens a quoted scalar, where inside a
        // plain scalar it is just a character.
        let mut at_node = true;
        while let Some(byte) = self.peek() {
            match byte {
                b'[' | b'{' => {
                    self.flow += 1;
                    self.check_depth()?;
                    self.pos += 1;
                    at_node = true;
                }
                b']' | b'}' => {
                    self.pos += 1;
                    self.flow = self.flow.saturating_sub(1);
                    if self.flow == 0 {
                        return Ok(());
                    }
                    at_node = false;
                }
                b',' => {
                    self.pos += 1;
                    at_node = true;
                }
                b':' => {
                    self.pos += 1;
                    at_node = is_blank(self.peek());
                }
                b'\n' => self.newline(),
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' if self.pos == self.line_start
                    || is_blank(self.bytes.get(self.pos - 1).copied()) =>
                {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.pos += 1;
                    }
                }
                quote @ (b'\'' | b'"') if at_node => {
                    self.quoted(quote);
                    at_node = false;
                }
                _ => {
                    self.pos += 1;
                    at_node = false;
                }
            }
        }
        // Unclosed at the end of the text: the parser says so.
        self.flow = 0;
        Ok(())
    }

    /// A quoted scalar from its opening quote to its closing one, across lines.
    fn quoted(&mut self, quote: u8) {
        self.pos += 1;
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => self.newline(),
                b'\\' if quote == b'"' => {
                    self.pos += 1;
                    // An escaped line break is still a line break.
                    if self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                b'\'' if quote == b'\'' && self.peek_at(1) == Some(b'\'') => self.pos += 2,
                _ if byte == quote => {
                    self.pos += 1;
                    return;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// A block scalar: its header line, then every line indented more than the node that
    /// holds it (blank lines included). Leaves `pos` at the start of the first line after it.
    fn block_scalar(&mut self) {
        // The scalar's own node is the innermost; its content is indented past its parent.
        let min_indent = self
            .block
            .len()
            .checked_sub(2)
            .and_then(|parent| self.block.get(parent))
            .map_or(0, |&parent| parent + 1);
        self.skip_line();
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let mut indent = 0;
            while self.peek_at(indent) == Some(b' ') {
                indent += 1;
            }
            let first = self.peek_at(indent);
            let blank = matches!(first, None | Some(b'\n' | b'\r'));
            let rest = self.bytes.get(start..).unwrap_or_default();
            let marker = rest.starts_with(b"---") || rest.starts_with(b"...");
            if !blank && (indent < min_indent || (indent == 0 && marker)) {
                return;
            }
            self.skip_line();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str, limit: usize) -> Option<(usize, usize)> {
        check(text, limit).err().map(|e| (e.line, e.column))
    }

    #[test]
    fn duncans_own_keys_pass_with_room_to_spare() {
        let text = "# comment\n---\nmarathon_host: https://dcos.example\n\
            apps:\n  dex:\n    marathon:\n      - dex-{{env}}-group.json\n  etl: {}\n\
            environments: [stage, production]\n\
            webhooks:\n  - url: https://hooks.example/x\n    format: json\n\
            timeouts:\n  deploy: 10m\n";
        assert_eq!(depth_error(text, 8), None);
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_the_limit_is_passed() {
        let text = format!(
            "consul_host: x\napps: {}{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        // `apps` is one block level; the flow levels come on top.
        assert_eq!(depth_error(&text, 64), Some((2, 7 + 63)));
    }

    #[test]
    fn deep_flow_mappings_across_lines_are_refused_on_their_line() {
        let text = format!("apps:\n{}", "  {a:\n".repeat(100));
        let error = check(&text, 10).unwrap_err();
        assert_eq!(error.limit, 10);
        assert!(error.line > 1 && error.line < 20, "{error:?}");
    }

    #[test]
    fn deep_block_sequences_on_one_line_are_refused() {
        let text = format!("apps:\n{}x\n", "- ".repeat(1000));
        assert_eq!(depth_error(&text, 64), Some((2, 1 + 2 * 64)));
    }

    #[test]
    fn deep_block_mappings_by_indentation_are_refused() {
        let text: String = (0..100).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert_eq!(depth_error(&text, 64), Some((65, 65)));
    }

    #[test]
    fn siblings_and_dedents_close_levels() {
        let text: String = (0..1000)
            .map(|_| "a:\n  b:\n    c: [1, {d: e}]\n")
            .collect();
        assert_eq!(depth_error(&text, 6), None);
    }

    #[test]
    fn brackets_in_quotes_comments_and_block_scalars_are_not_counted() {
        let many = "[".repeat(100);
        let text = format!(
            "a: '{many}'\nb: \"{many}\\\" {many}\"\nc: [x, '{many}', \"{many}\"] # {many}\n\
             # {many}\nd: |\n  {many}\n\n  {many}\ne: >\n  {many}\nf: x{many}\n\
             g: [it's, a]\n"
        );
        assert_eq!(depth_error(&text, 8), None);
    }

    #[test]
    fn line_numbers_count_lines_inside_quotes_and_flow_collections() {
        let text = "a: \"one\n  two\"\nb: [\n  x,\n  [[[[y]]]]]\n";
        assert_eq!(depth_error(text, 5), Some((5, 6)));
    }

    #[test]
    fn each_document_starts_at_depth_zero() {
        let level =
            |n: usize| -> String { (0..n).map(|i| format!("{}k:\n", " ".repeat(i))).collect() };
        let text = format!("{}---\n{}", level(5), level(5));
        assert_eq!(depth_error(&text, 5), None);
    }

    #[test]
    fn crlf_line_endings_count_like_lf() {
        let text: String = (0..100)
            .map(|i| format!("{}k:\r\n", " ".repeat(i)))
            .collect();
        assert_eq!(depth_error(&text, 64), Some((65, 65)));
        assert_eq!(depth_error("a:\r\n  b: [c]\r\nd: e\r\n", 3), None);
    }

    #[test]
    fn anchors_and_tags_do_not_add_levels_but_what_follows_them_counts() {
        assert_eq!(depth_error("a: &x !!seq [b]\n", 3), None);
        let text = format!("a: &x !!seq {}\n", "[".repeat(100));
        assert_eq!(depth_error(&text, 3), Some((1, 15)));
    }

    #[test]
    fn unclosed_collections_and_quotes_end_the_scan_without_error() {
        assert_eq!(depth_error("a: [b, c\n", 64), None);
        assert_eq!(depth_error("a: 'b\n", 64), None);
        assert_eq!(depth_error("a: \"b\\", 64), None);
    }
}
