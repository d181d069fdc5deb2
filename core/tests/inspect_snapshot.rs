//! `mesh-certs inspect` output on fixed keys (tests/fixtures) at a fixed time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mesh_core::ExitStatus;
use mesh_core::app::certs::inspect;
use mesh_core::ca::CertDir;
use mesh_core::clock::FixedClock;
use mesh_core::render::{OutputFormat, Printer};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(at: time::OffsetDateTime, format: OutputFormat) -> (ExitStatus, String, String) {
    let (out, err) = (Buf::default(), Buf::default());
    let printer = Printer::to_writers(Box::new(out.clone()), Box::new(err.clone()));
    let dir = CertDir::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mesh-certs"
    ));
    let status = inspect(&dir, 30, &FixedClock(at), &printer, format).unwrap();
    let text = |b: &Buf| {
        String::from_utf8(b.0.lock().unwrap().clone())
            .unwrap()
            .replace(env!("CARGO_MANIFEST_DIR"), "<core>")
    };
    (status, text(&out), text(&err))
}

#[test]
fn inspect_table_when_all_is_well() {
    let (status, out, err) = run(
        time::macros::datetime!(2027-01-01 00:00 UTC),
        OutputFormat::Table,
    );
    assert_eq!(status, ExitStatus::Success);
    insta::assert_snapshot!(format!("{out}\n--- stderr ---\n{err}"));
}

#[test]
fn inspect_table_when_certificates_expire_soon() {
    let (status, out, err) = run(
        time::macros::datetime!(2036-11-05 00:00 UTC),
        OutputFormat::Table,
    );
    assert_eq!(status, ExitStatus::Problems);
    insta::assert_snapshot!(format!("{out}\n--- stderr ---\n{err}"));
}

#[test]
fn inspect_json() {
    let (status, out, _) = run(
        time::macros::datetime!(2027-01-01 00:00 UTC),
        OutputFormat::Json,
    );
    assert_eq!(status, ExitStatus::Success);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!(v);
}
