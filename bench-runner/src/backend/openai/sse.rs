//! Server-Sent Events framing, incremental: feed it network reads as they arrive, get whole
//! events out. Written to the WHATWG "event stream" rules that matter for LLM servers:
//!
//! - lines end in `\n`, `\r\n` or `\r`, and a read may end in the middle of a line (or
//!   between the `\r` and `\n` of one line ending);
//! - `data:` lines of one event are joined with `\n`; one leading space after the colon is
//!   dropped; a blank line dispatches the event;
//! - lines starting with `:` are comments (keep-alives) and are ignored;
//! - `event:` sets the event type; `id:` and `retry:` are accepted and ignored.
//!
//! The parser does not allocate once warm: it scans each read for line ends, keeps the
//! unfinished line and the event's fields in buffers it reuses, and hands each event to a
//! callback as borrowed text ([`SseParser::feed_with`]); [`SseParser::feed`] collects owned
//! events for callers that want them. The caller stamps the arrival time of a read once and
//! gives it to every event that read completed.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, empty for the default "message" type.
    pub event: String,
    pub data: String,
}

impl Event {
    /// OpenAI's end-of-stream sentinel.
    pub fn is_done(&self) -> bool {
        self.as_ref().is_done()
    }

    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            event: &self.event,
            data: &self.data,
        }
    }
}

/// An event lent to [`SseParser::feed_with`]'s callback, valid until it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The `event:` field, empty for the default "message" type.
    pub event: &'a str,
    pub data: &'a str,
}

impl EventRef<'_> {
    /// OpenAI's end-of-stream sentinel.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }

    pub fn to_owned(&self) -> Event {
        Event {
            event: self.event.to_string(),
            data: self.data.to_string(),
        }
    }
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The previous read ended with `\r`: a `\n` at the start of the next read belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one network read; returns the events it completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        self.feed_with(bytes, |e| out.push(e.to_owned()));
        out
    }

    /// Feeds one network read and hands each event it completed, in order, to `on_event`.
    pub fn feed_with(&mut self, mut bytes: &[u8], mut on_event: impl FnMut(EventRef<'_>)) {
        if self.after_cr {
            self.after_cr = false;
            if let [b'\n', rest @ ..] = bytes {
                bytes = rest;
            }
        }
        while let Some(i) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let cr = bytes[i] == b'\r';
            if self.line.is_empty() {
                // The whole line is in this read: no copy.
                self.process_line(&bytes[..i], &mut on_event);
            } else {
                self.line.extend_from_slice(&bytes[..i]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, &mut on_event);
                self.line = line;
                self.line.clear();
            }
            bytes = &bytes[i + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    _ => {}
                }
            }
        }
        self.line.extend_from_slice(bytes);
    }

    /// Called at end of stream: an event not closed by a blank line is still dispatched
    /// (servers that close the connection right after the last `data:` line).
    pub fn finish(&mut self) -> Option<Event> {
        let mut out = None;
        let mut keep = |e: EventRef<'_>| out = Some(e.to_owned());
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut keep);
        }
        self.dispatch(&mut keep);
        out
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut impl FnMut(EventRef<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&String::from_utf8_lossy(value));
            }
            _ => {} // id, retry, unknown fields: ignored as the spec says
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(EventRef<'_>)) {
        if self.has_data {
            on_event(EventRef {
                event: &self.event,
                data: &self.data,
            });
        }
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(reads: &[&[u8]]) -> Vec<Event> {
        let mut p = SseParser::new();
        let mut out: Vec<Event> = reads.iter().flat_map(|r| p.feed(r)).collect();
        out.extend(p.finish());
        out
    }

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn whole_events() {
        let ev = all(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]);
        assert_eq!(data(&ev), ["{\"a\":1}", "[DONE]"]);
        assert!(ev[1].is_done());
    }

    #[test]
    fn lines_split_across_reads_at_every_byte() {
        let stream = b"data: {\"x\":\"hello\"}\r\n\r\n: keep-alive\n\ndata: second\n\n";
        for cut in 0..stream.len() {
            let ev = all(&[&stream[..cut], &stream[cut..]]);
            assert_eq!(data(&ev), ["{\"x\":\"hello\"}", "second"], "cut at {cut}");
        }
    }

    #[test]
    fn cr_lf_split_between_reads_is_one_line_end() {
        let ev = all(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"]);
        assert_eq!(data(&ev), ["a", "b"]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let ev = all(&[b"data: one\ndata:two\ndata:  three\n\n"]);
        assert_eq!(data(&ev), ["one\ntwo\n three"]);
    }

    #[test]
    fn comments_ids_and_event_types() {
        let ev = all(&[
            b": ping\nid: 7\nretry: 10\nevent: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
        ]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event, "error");
        assert!(ev[0].data.contains("boom"));
    }

    #[test]
    fn blank_lines_without_data_dispatch_nothing() {
        assert!(all(&[b"\n\n: c\n\n"]).is_empty());
    }

    #[test]
    fn unterminated_last_event_is_flushed_on_finish() {
        let ev = all(&[b"data: tail"]);
        assert_eq!(data(&ev), ["tail"]);
    }

    /// The callback path sees exactly the events `feed` returns, read split anywhere.
    #[test]
    fn feed_with_lends_the_same_events() {
        let stream = b"event: x\ndata: a\r\ndata: b\n\n: c\ndata: [DONE]\n\n";
        for cut in 0..stream.len() {
            let mut p = SseParser::new();
            let mut seen = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                p.feed_with(part, |e| seen.push(e.to_owned()));
            }
            assert_eq!(seen, all(&[stream]), "cut at {cut}");
            assert_eq!(seen[0].event, "x");
            assert!(seen[1].is_done() && seen[1].event.is_empty());
        }
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let ev = all(&[b"data: \xff\xfe\n\n"]);
        assert_eq!(ev.len(), 1);
    }
}
