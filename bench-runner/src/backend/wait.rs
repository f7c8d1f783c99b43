//! "Still waiting" lines: a backend that waits long on a server says so, on stderr or through
//! the sink the progress display installs (so the line lands above its bar).

type WaitSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Where "waiting for" lines go: stderr, or the sink of the running progress display.
static WAIT_SINK: std::sync::RwLock<Option<WaitSink>> = std::sync::RwLock::new(None);

/// Sends "waiting for" lines to `sink` (the progress display, which prints them above its
/// bar), or back to plain stderr with `None`.
pub fn set_wait_sink(sink: Option<WaitSink>) {
    if let Ok(mut s) = WAIT_SINK.write() {
        *s = sink;
    }
}

/// Says that something is still being waited for (a server that does not answer).
pub fn wait_notice(line: &str) {
    let line = crate::secret::scrub(line);
    let sink = WAIT_SINK.read().ok().and_then(|s| s.clone());
    match sink {
        Some(f) => f(&line),
        None => eprintln!("{line}"),
    }
}
