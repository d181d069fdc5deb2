//! `kubectl mesh-certs rotate-root`: the mesh's root CA replaced in stages, without a moment
//! where two workloads do not trust each other (docs/root-rotation.md).
//!
//! `prepare` puts a new root beside the old one; `trust-both` makes every cluster's `cacerts`
//! trust both roots (intermediates still under the old one) and waits until every istiod has
//! spread that bundle; `reissue` gives every cluster a new intermediate under the new root;
//! `finish` drops the old root. The record lives in the certificate directory
//! ([`state`]); the decisions are pure ([`stages`]); the disk is [`local`]; one stage end to
//! end is [`run`]; watching istiod spread the bundle is [`wait`].
//!
//! Once connected, a stage reaches the clusters only through [`crate::cluster::Cluster`]
//! (`run::run_stage`), so its unit tests run every stage against fake clusters.

mod decide;
pub mod local;
pub mod run;
pub mod stages;
pub mod state;
pub mod view;
mod wait;

#[cfg(test)]
mod fake_support;
#[cfg(test)]
mod run_tests;

pub use run::{RotateRootOptions, rotate_root};
pub use state::Stage;
