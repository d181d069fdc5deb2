//! What the crate's unit tests share: running a future to its end, and a printer whose stderr
//! a test reads back.

use crate::render::Printer;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Runs a future to its end on a runtime of this thread.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

/// What a [`captured_printer`] wrote to stderr.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// The text written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A printer whose stdout is dropped and whose stderr is kept (for messages a test asserts).
pub fn captured_printer() -> (Printer, Captured) {
    let err = Captured::default();
    let printer = Printer::to_writers(Box::new(std::io::sink()), Box::new(err.clone()));
    (printer, err)
}
