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
//! The parser never allocates per byte: it scans each read for line ends and copies whole
//! lines. The caller stamps the arrival time of a read once and gives it to every event
//! that read completed.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, empty for the default "message" type.
    pub event: String,
    pub data: String,
}

impl Event {
    /// OpenAI's end-of-stream sentinel.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
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
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        if self.after_cr {
            self.after_cr = false;
            if let [b'\n', rest @ ..] = bytes {
                bytes = rest;
            }
        }
        while let Some(i) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..i]);
            let cr = bytes[i] == b'\r';
            bytes = &bytes[i + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    _ => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(bytes);
        out
    }

    /// Called at end of stream: an event not closed by a blank line is still dispatched
    /// (servers that close the connection right after the last `data:` line).
    pub fn finish(&mut self) -> Option<Event> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.dispatch(&mut out);
        out.pop()
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            self.dispatch(out);
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
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            _ => {} // id, retry, unknown fields: ignored as the spec says
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        if self.has_data {
            out.push(Event {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event.clear();
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

    #[test]
    fn invalid_utf8_does_not_panic() {
        let ev = all(&[b"data: \xff\xfe\n\n"]);
        assert_eq!(ev.len(), 1);
    }
}
