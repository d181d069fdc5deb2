//! Typed, deterministic builders of every object kubectl-mesh creates.
//!
//! Each builder takes plain data and returns manifests as JSON values (`apiVersion`, `kind`,
//! `metadata`, …) ready for server-side apply or for `-o yaml`. The same input gives
//! byte-identical output, so plans, snapshots and GitOps exports are stable.

pub mod cacerts;
pub mod gateway;
pub mod istio;
pub mod remote_secret;
