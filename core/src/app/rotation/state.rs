//! The rotation's record beside the certificates: `DIR/rotation.json`, and the new root in
//! `DIR/next-root/` until the last stage makes it the mesh root.
//!
//! The record says which roots the rotation is between and which stage was last written;
//! every stage still checks the clusters themselves before it writes (the file alone is
//! never trusted about a cluster).

use crate::ca::describe::fingerprint;
use crate::ca::pem::{read_text, single_certificate};
use crate::ca::store::{self, CertDir};
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The record's file name.
pub const STATE_FILE: &str = "rotation.json";
/// Where the new root lives until `finish`.
pub const NEXT_ROOT_DIR: &str = "next-root";
/// The record's schema.
pub const SCHEMA: &str = "kubectl-mesh.io/root-rotation/v1";

/// The stages, in order. Each is also the command that reaches it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The new root exists on disk (no cluster touched).
    Prepare,
    /// Every cluster's `cacerts` trusts both roots; intermediates still under the old one.
    TrustBoth,
    /// New intermediates under the new root; both roots still trusted.
    Reissue,
    /// Only the new root is trusted; it becomes the mesh root on disk.
    Finish,
}

impl Stage {
    /// As the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::TrustBoth => "trust-both",
            Stage::Reissue => "reissue",
            Stage::Finish => "finish",
        }
    }

    /// The stage that must be complete before this one.
    pub fn previous(self) -> Option<Stage> {
        match self {
            Stage::Prepare => None,
            Stage::TrustBoth => Some(Stage::Prepare),
            Stage::Reissue => Some(Stage::TrustBoth),
            Stage::Finish => Some(Stage::Reissue),
        }
    }
}

/// `DIR/rotation.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationState {
    /// [`SCHEMA`].
    pub schema_version: String,
    /// SHA-256 of the root being replaced.
    pub old_root: String,
    /// SHA-256 of the new root.
    pub new_root: String,
    /// The old root's certificate (public), kept so later stages and a rerun of `finish`
    /// can still recognise it once the files have moved.
    pub old_root_pem: String,
    /// The last stage whose writes all went through.
    pub stage: Stage,
    /// When `prepare` ran (RFC 3339).
    pub started: String,
    /// When `reissue` last wrote (RFC 3339): workload certificates renew after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reissued: Option<String>,
    /// Every cluster a stage has run on: later stages must name them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
}

/// The clusters of `recorded` that `given` leaves out. Signing with the new root while a
/// cluster that is not named may still trust only the old one would break mTLS with it.
pub fn left_out(recorded: &[String], given: &[String]) -> Vec<String> {
    recorded
        .iter()
        .filter(|c| !given.contains(c))
        .cloned()
        .collect()
}

/// `DIR/rotation.json`.
pub fn state_path(dir: &CertDir) -> PathBuf {
    dir.path().join(STATE_FILE)
}

/// `DIR/next-root/`.
pub fn next_dir(dir: &CertDir) -> CertDir {
    CertDir::new(dir.path().join(NEXT_ROOT_DIR))
}

/// The record, if a rotation was prepared in `dir`.
pub fn read(dir: &CertDir) -> Result<Option<RotationState>, Error> {
    let path = state_path(dir);
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(&path)?;
    let state: RotationState = serde_json::from_str(&text).map_err(|e| {
        Error::input(
            format!("{}: not a root-rotation record: {e}", path.display()),
            "restore it from DIR/backup/, or move it away to start the rotation again with prepare",
        )
    })?;
    if state.schema_version != SCHEMA {
        return Err(Error::input(
            format!(
                "{}: schemaVersion '{}', this version reads '{SCHEMA}'",
                path.display(),
                state.schema_version
            ),
            "use the kubectl-mesh version that started this rotation",
        ));
    }
    Ok(Some(state))
}

/// Writes the record atomically (`0600`).
pub fn write(dir: &CertDir, state: &RotationState) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(state).map_err(|e| {
        Error::input(
            format!("cannot encode the rotation record: {e}"),
            "report this as a bug",
        )
    })?;
    text.push('\n');
    Ok(store::write_atomic(
        &state_path(dir),
        text.as_bytes(),
        0o600,
    )?)
}

/// A root certificate as PEM and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCert {
    /// PEM.
    pub pem: String,
    /// DER.
    pub der: Vec<u8>,
    /// SHA-256.
    pub sha256: String,
}

impl RootCert {
    /// Reads one certificate from `path`.
    pub fn read(path: &std::path::Path) -> Result<RootCert, Error> {
        let pem = read_text(path)?;
        Self::parse(path, &pem)
    }

    /// Parses one certificate (`path` names it in errors).
    pub fn parse(path: &std::path::Path, pem: &str) -> Result<RootCert, Error> {
        let der = single_certificate(path, pem)?;
        Ok(RootCert {
            sha256: fingerprint(&der),
            pem: crate::ca::pem::to_pem(&der),
            der,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_stage_must_name_every_cluster_an_earlier_one_ran_on() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(left_out(&s(&["east", "west"]), &s(&["west", "east", "north"])).is_empty());
        assert_eq!(left_out(&s(&["east", "west"]), &s(&["west"])), s(&["east"]));
        assert!(left_out(&[], &s(&["east"])).is_empty());
    }
}
