//! The progress bar (case, done/total, ETA, live tok/s) and status lines.
//!
//! No steady tick: on a 2-core machine a redraw thread would steal time from the model under
//! test. The bar redraws only when a request finishes. When stderr is not a terminal (CI),
//! the bar is hidden and one line per case is printed instead.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        // "Waiting for <server>" lines from the backend: above the bar, or plain lines on a
        // non-terminal stderr; printed even with --quiet, since a hang is not progress.
        let sink = bar.clone();
        crate::backend::wait::set_wait_sink(Some(std::sync::Arc::new(
            move |line: &str| match &sink {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            },
        )));
        Progress { bar, quiet }
    }

    /// One request finished.
    pub fn request_done(&self, case: &str, decode_tok_s: Option<f64>) {
        if let Some(b) = &self.bar {
            match decode_tok_s {
                Some(t) => b.set_message(format!("{case}  {t:.1} tok/s")),
                None => b.set_message(case.to_string()),
            }
            b.inc(1);
        }
    }

    /// More requests than first counted (lengths known only once the backend is probed).
    pub fn add_total(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc_length(n);
        }
    }

    /// A line for the log, above the bar.
    pub fn note(&self, line: &str) {
        if self.quiet {
            return;
        }
        // Case lines carry server messages: the last look for a secret before the terminal.
        let line = crate::secret::scrub(line);
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        crate::backend::wait::set_wait_sink(None);
    }
}
