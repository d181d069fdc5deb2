//! What the crate's unit tests share: running a future to its end, a printer whose stderr a
//! test reads back, and certificate directories.

use crate::ca::create::{CreateOptions, create};
use crate::ca::{CertDir, KeyType, SettingsFlags};
use crate::names::ClusterName;
use crate::render::Printer;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

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

/// What `mesh-certs create` is asked for `clusters` in `dir`: an ECDSA P-256 root and
/// intermediates (quick to make), nothing forced or imported.
pub fn create_options(dir: &CertDir, clusters: &[&str]) -> CreateOptions {
    CreateOptions {
        dir: dir.clone(),
        clusters: clusters
            .iter()
            .map(|c| ClusterName::parse(c).unwrap())
            .collect(),
        settings: SettingsFlags {
            key_type: Some(KeyType::EcdsaP256),
            ..SettingsFlags::default()
        },
        import_root: None,
        force: false,
    }
}

/// A certificate directory at `path` with a root and the intermediates of `clusters`, made
/// at `now`.
pub fn cert_dir(path: &Path, clusters: &[&str], now: OffsetDateTime) -> CertDir {
    let dir = CertDir::new(path);
    create(&create_options(&dir, clusters), now).unwrap();
    dir
}
