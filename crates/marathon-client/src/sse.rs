//! An incremental parser for server-sent events (the `text/event-stream` format).
//!
//! Bytes go in as they arrive, in chunks of any size and split anywhere; complete events
//! come out. Lines may end in CRLF (live Marathon), LF (its documentation) or a lone CR.
//! An empty line with no field before it (Marathon's bare-CRLF keep-alive) and a comment line
//! (`:`, the keep-alive of many other servers) carry no event: [`SseParser::push`] skips them,
//! [`SseParser::push_items`] reports them as [`SseItem::KeepAlive`], so a consumer can tell a
//! quiet stream that is alive from one that has gone silent. Events of several megabytes are
//! fine; anything over the configured limit is refused, so a broken server cannot make the
//! client buffer without bound.

use crate::Error;

/// One complete server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseMessage {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: Vec<u8>,
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
}

/// One thing a chunk of the stream completed: an event, or a sign of life without one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseItem {
    /// A complete event.
    Message(SseMessage),
    /// A keep-alive: a blank line outside any event (Marathon sends a bare CRLF every
    /// 10 seconds) or a comment line.
    KeepAlive,
}

/// Turns a byte stream into [`SseMessage`]s.
///
/// ```
/// use marathon_client::sse::SseParser;
///
/// let mut parser = SseParser::new(1 << 20);
/// let mut events = parser.push(b"event: ping\r\ndata: {\"a\"")?;
/// assert!(events.is_empty());
/// events = parser.push(b":1}\r\n\r\n\r\n")?; // the last CRLF is a keep-alive
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].event.as_deref(), Some("ping"));
/// assert_eq!(events[0].data, b"{\"a\":1}");
/// # Ok::<(), marathon_client::Error>(())
/// ```
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// Bytes received but not yet split into lines.
    buffer: Vec<u8>,
    /// How far `buffer` has been searched for a line end, so a long line is scanned once.
    scanned: usize,
    /// The event being assembled.
    current: SseMessage,
    /// Whether the event being assembled has any field yet.
    has_field: bool,
    /// Whether at least one `data:` line arrived for the current event.
    has_data: bool,
}

impl SseParser {
    /// A parser that refuses events (and lines) larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            max_event_bytes,
            buffer: Vec::new(),
            scanned: 0,
            current: SseMessage::default(),
            has_field: false,
            has_data: false,
        }
    }

    /// Feeds received bytes; returns the events they complete, in order.
    ///
    /// # Errors
    /// [`Error::EventTooLarge`] when an event or line grows beyond the limit. The parser
    /// should not be used after an error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseMessage>, Error> {
        Ok(self
            .push_items(bytes)?
            .into_iter()
            .filter_map(|item| match item {
                SseItem::Message(message) => Some(message),
                SseItem::KeepAlive => None,
            })
            .collect())
    }

    /// Feeds received bytes; returns the events and keep-alives they complete, in order.
    ///
    /// ```
    /// use marathon_client::sse::{SseItem, SseParser};
    ///
    /// let mut parser = SseParser::new(1 << 20);
    /// let items = parser.push_items(b"\r\nevent: a\r\ndata: 1\r\n\r\n: ping\r\n")?;
    /// assert_eq!(items.len(), 3);
    /// assert_eq!(items[0], SseItem::KeepAlive);
    /// assert!(matches!(&items[1], SseItem::Message(m) if m.data == b"1"));
    /// assert_eq!(items[2], SseItem::KeepAlive);
    /// # Ok::<(), marathon_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`SseParser::push`].
    pub fn push_items(&mut self, bytes: &[u8]) -> Result<Vec<SseItem>, Error> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut line_start = 0;
        loop {
            let Some(offset) = self.buffer[self.scanned..]
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
            else {
                self.scanned = self.buffer.len();
                break;
            };
            let end = self.scanned + offset;
            let terminator_len = if self.buffer[end] == b'\r' {
                match self.buffer.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A CR at the very end may be the first half of a CRLF: wait for more.
                    None => {
                        self.scanned = end;
                        break;
                    }
                }
            } else {
                1
            };
            let line = self.buffer[line_start..end].to_vec();
            line_start = end + terminator_len;
            self.scanned = line_start;
            if let Some(event) = self.line(&line)? {
                events.push(event);
            }
        }
        if line_start > 0 {
            self.buffer.drain(..line_start);
            self.scanned -= line_start;
        }
        if self.buffer.len() + self.current.data.len() > self.max_event_bytes {
            return Err(Error::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(events)
    }

    /// Handles one complete line; returns an event when the line is the blank one that ends it,
    /// and a keep-alive for a blank line outside an event or a comment.
    fn line(&mut self, line: &[u8]) -> Result<Option<SseItem>, Error> {
        if line.is_empty() {
            if !self.has_field {
                // A keep-alive (or a second blank line): nothing to dispatch, but the
                // server is there.
                return Ok(Some(SseItem::KeepAlive));
            }
            let event = std::mem::take(&mut self.current);
            let had_data = self.has_data;
            self.has_field = false;
            self.has_data = false;
            // Per the SSE rules an event without data is not dispatched.
            return Ok(had_data.then_some(SseItem::Message(event)));
        }
        if line.first() == Some(&b':') {
            return Ok(Some(SseItem::KeepAlive));
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        self.has_field = true;
        match name {
            b"data" => {
                if self.has_data {
                    self.current.data.push(b'\n');
                }
                self.current.data.extend_from_slice(value);
                self.has_data = true;
                if self.current.data.len() > self.max_event_bytes {
                    return Err(Error::EventTooLarge {
                        limit: self.max_event_bytes,
                    });
                }
            }
            b"event" => self.current.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" => self.current.id = Some(String::from_utf8_lossy(value).into_owned()),
            // `retry` and unknown fields do not matter to a client that reconnects itself.
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseMessage> {
        let mut parser = SseParser::new(1 << 20);
        chunks
            .iter()
            .flat_map(|c| parser.push(c).unwrap())
            .collect()
    }

    #[test]
    fn crlf_events_with_keepalives_between_them_parse() {
        let events =
            parse_all(&[b"\r\nevent: a\r\ndata: 1\r\n\r\n\r\n\r\nevent: b\r\ndata: 2\r\n\r\n"]);
        let names: Vec<_> = events.iter().map(|e| e.event.clone().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn lf_events_parse() {
        let events = parse_all(&[b"event: a\ndata: {}\n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, b"{}");
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        let events = parse_all(&[b"event: a\r", b"\ndata: x\r", b"\n\r", b"\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.as_deref(), Some("a"));
        assert_eq!(events[0].data, b"x");
    }

    #[test]
    fn event_split_into_single_bytes_parses() {
        let input = b"event: a\r\ndata: {\"k\": 1}\r\n\r\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let events = parse_all(&chunks);
        assert_eq!(events[0].data, b"{\"k\": 1}");
    }

    #[test]
    fn multiple_data_lines_join_with_newline_and_comments_are_skipped() {
        let events = parse_all(&[b": hello\ndata: a\ndata: b\n\n"]);
        assert_eq!(events[0].data, b"a\nb");
    }

    #[test]
    fn several_megabyte_event_parses() {
        let payload = vec![b'x'; 5 * 1024 * 1024];
        let mut parser = SseParser::new(16 * 1024 * 1024);
        let mut events = parser.push(b"event: big\r\ndata: ").unwrap();
        for chunk in payload.chunks(8192) {
            events.extend(parser.push(chunk).unwrap());
        }
        events.extend(parser.push(b"\r\n\r\n").unwrap());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), payload.len());
    }

    #[test]
    fn event_over_the_limit_is_refused() {
        let mut parser = SseParser::new(1024);
        parser.push(b"data: ").unwrap();
        let err = parser.push(&[b'x'; 2048]).unwrap_err();
        assert!(matches!(err, Error::EventTooLarge { limit: 1024 }));
    }

    fn items_of(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new(1 << 20);
        chunks
            .iter()
            .flat_map(|c| parser.push_items(c).unwrap())
            .collect()
    }

    #[test]
    fn bare_crlf_between_events_is_a_keep_alive() {
        let items = items_of(&[b"event: a\r\ndata: 1\r\n\r\n", b"\r\n", b"\r\n"]);
        assert!(matches!(&items[0], SseItem::Message(m) if m.event.as_deref() == Some("a")));
        assert_eq!(&items[1..], [SseItem::KeepAlive, SseItem::KeepAlive]);
    }

    #[test]
    fn comment_line_is_a_keep_alive_even_inside_an_event() {
        let items = items_of(&[b"event: a\n: still here\ndata: 1\n\n"]);
        assert_eq!(items[0], SseItem::KeepAlive);
        assert!(matches!(&items[1], SseItem::Message(m) if m.data == b"1"));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn keep_alive_split_across_chunks_is_reported_once_complete() {
        assert!(
            items_of(&[b"\r"]).is_empty(),
            "a lone CR may be half a CRLF"
        );
        assert_eq!(items_of(&[b"\r", b"\n"]), [SseItem::KeepAlive]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        assert!(parse_all(&[b"event: a\n\n"]).is_empty());
    }
}
