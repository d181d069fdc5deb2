//! The only place that writes to the terminal.
//!
//! Every command returns a report (plain serialisable data); the [`Printer`] turns it into a
//! table for people or JSON/YAML for programs. stdout carries only that data, so
//! `kubectl mesh-certs inspect -o json | jq` always works; progress, warnings and errors go to
//! stderr. Colour is used only when the stream is a terminal and `NO_COLOR` is unset, and never
//! as the only signal: every coloured word is also spelled out (`ok`, `FAIL`, `✔`/`✖`).

pub mod checks;
mod printer;
mod style;
mod table;

pub use printer::{OutputFormat, Printer};
pub use style::{Style, Tone};
pub use table::KubeTable;
