//! The progress line on stderr while the probes run: on a terminal one line
//! rewritten in place and erased at the end; elsewhere (a pipe, a CI log)
//! nothing, so scripts see only the report.

use std::io::Write;

/// Where progress goes.
pub struct Progress {
    /// The terminal, or nothing.
    out: Option<Box<dyn Write + Send>>,
}

/// Erase the current terminal line and go to its start.
const ERASE: &str = "\r\x1b[2K";

impl Progress {
    /// Progress on stderr if it is a terminal.
    pub fn stderr() -> Self {
        use std::io::IsTerminal;
        let stderr = std::io::stderr();
        Self { out: stderr.is_terminal().then(|| Box::new(stderr) as Box<dyn Write + Send>) }
    }

    /// Progress into `out` as if it were a terminal (tests).
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        Self { out: Some(out) }
    }

    /// No progress.
    pub fn none() -> Self {
        Self { out: None }
    }

    /// Shows what is being probed now.
    pub fn step(&mut self, what: &str) {
        if let Some(out) = &mut self.out {
            // The server's name may come from the command line only; still
            // printed through escape_debug so nothing can drive the terminal.
            let _ = write!(out, "{ERASE}doorman audit: {}…", what.escape_debug());
            let _ = out.flush();
        }
    }

    /// Erases the line.
    pub fn done(&mut self) {
        if let Some(out) = &mut self.out {
            let _ = write!(out, "{ERASE}");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_line_rewritten_then_erased() {
        let sink = Shared::default();
        let mut p = Progress::to(Box::new(sink.clone()));
        p.step("greeting");
        p.step("STARTTLS");
        p.done();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "\r\x1b[2Kdoorman audit: greeting…\r\x1b[2Kdoorman audit: STARTTLS…\r\x1b[2K");
        Progress::none().step("nothing");
    }
}
