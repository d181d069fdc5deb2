//! # mesh-core
//!
//! Everything kubectl-mesh knows lives here; the three plugins (`kubectl mesh-certs`,
//! `kubectl mesh-join`, `kubectl mesh-verify`) are thin binaries that parse flags, call one
//! function of this crate and map its result to an exit code.
//!
//! The crate is split by concern, pure logic apart from I/O:
//! - [`ca`]: the mesh's certificate authority on the operator's disk — profiles as data,
//!   issuing a root and per-cluster intermediates, inspecting and verifying chains.
//! - [`render`]: the only place that writes to the terminal ([`render::Printer`]): stdout for
//!   data that may be piped, stderr for progress, warnings and errors.
//! - [`cli`]: the flag groups every plugin shares (output format, kubeconfig, dry-run).
//! - [`exit`], [`error`], [`hint`]: the exit-code contract (0 ok, 1 problems found, 2 could not
//!   do the job) and errors that carry a hint with the next step.
//! - [`clock`], [`secret`]: injected time, and wrappers that keep key material out of logs.

pub mod app;
pub mod ca;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod completion;
pub mod error;
pub mod exit;
pub mod hint;
pub mod istio_version;
pub mod kinds;
pub mod kubeconfig;
pub mod kubeconfig_gate;
pub mod labels;
pub mod manifests;
pub mod mesh;
pub mod names;
pub mod plan;
pub mod readiness;
pub mod render;
pub mod rollout;
pub mod secret;
pub mod targets;
#[cfg(test)]
pub(crate) mod test_support;
pub mod topology;
pub mod version;
pub mod version_gates;

pub use error::Error;
pub use exit::ExitStatus;
pub use hint::Hinted;
