//! The mesh's certificate authority on the operator's disk.
//!
//! Replaces the seeds' openssl procedure (`genrsa`, `req`, `x509` with `root-ca.conf` and
//! `intermediate.conf`) and Istio's `tools/certs` Makefile: one root, one intermediate per
//! cluster, laid out the way istiod's `cacerts` expects. Profiles are data ([`profile`]);
//! issuing is pure apart from randomness ([`issue`]); reading and checking are in [`pem`],
//! [`describe`] and [`inspect`]; only [`store`] and [`create`] touch the disk.

pub mod bundle;
pub mod create;
pub mod describe;
pub mod inspect;
pub mod issue;
pub mod pem;
pub mod profile;
pub mod recorded;
pub mod store;

pub use bundle::{Bundle, BundleReport};
pub use create::{CreateOptions, CreateReport, ImportRoot, create};
pub use describe::CertInfo;
pub use inspect::{InspectReport, inspect};
pub use profile::{CaSettings, KeyType};
pub use recorded::SettingsFlags;
pub use store::CertDir;

use crate::hint::Hinted;
use serde::Serialize;
use std::path::PathBuf;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth attention soon (exit 1 all the same: scripts should notice).
    Warning,
    /// Broken.
    Error,
}

/// Something wrong with a certificate set, with the next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// How bad.
    pub severity: Severity,
    /// `root` or the cluster name.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
    /// What it is about, for the callers that decide on it (never shown).
    #[serde(skip)]
    pub kind: ProblemKind,
}

/// What a [`Problem`] is about, where a caller decides on it instead of reading its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProblemKind {
    /// Anything else.
    #[default]
    Other,
    /// The validity period alone (expired, not yet valid, ending soon): the set is otherwise
    /// sound, and a rotation replaces it.
    Validity,
    /// The roots istiod publishes (`istio-ca-root-cert`) lag `cacerts`: istiod rewrites them
    /// once it runs with that `cacerts`.
    PublishedRoots,
}

impl Problem {
    /// An error.
    pub fn error(subject: &str, message: &str, hint: &str) -> Self {
        Problem {
            severity: Severity::Error,
            subject: subject.into(),
            message: message.into(),
            hint: hint.into(),
            kind: ProblemKind::Other,
        }
    }

    /// A warning.
    pub fn warning(subject: &str, message: &str, hint: &str) -> Self {
        Problem {
            severity: Severity::Warning,
            subject: subject.into(),
            message: message.into(),
            hint: hint.into(),
            kind: ProblemKind::Other,
        }
    }

    /// The same problem, marked as about `kind`.
    pub fn of_kind(mut self, kind: ProblemKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Errors of the on-disk certificate authority.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The certificate directory does not exist.
    #[error("certificate directory '{}' does not exist", path.display())]
    NoCertDir {
        /// The directory.
        path: PathBuf,
    },
    /// A file that should be there is not.
    #[error("'{}' is missing", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read '{}'", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write '{}'", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not the PEM that was expected.
    #[error("'{}' is not usable: {reason}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A private key that is not the certificate's.
    #[error("the private key '{}' does not belong to the certificate '{}'", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// A root certificate that is not a CA.
    #[error("'{}' is not a CA certificate (basicConstraints CA:true is missing)", path.display())]
    NotCa {
        /// The certificate file.
        path: PathBuf,
    },
    /// A different root is already in the directory.
    #[error("'{}' already holds another root (existing {existing}, given {given})", path.display())]
    DifferentRoot {
        /// The existing root file.
        path: PathBuf,
        /// Its fingerprint.
        existing: String,
        /// The given root's fingerprint.
        given: String,
    },
    /// A cluster directory with only some of its files.
    #[error("'{}' is missing while other files of that cluster exist", path.display())]
    Incomplete {
        /// The first missing file.
        path: PathBuf,
    },
    /// Replacing the root would leave clusters under the old one.
    #[error("replacing the root would orphan the intermediates of cluster(s) {}", clusters.join(", "))]
    Orphaned {
        /// Clusters in the directory not named in the command.
        clusters: Vec<String>,
    },
    /// A SAN that is neither an IP address nor a DNS name.
    #[error("invalid subject alternative name '{0}'")]
    InvalidSan(String),
    /// Validity settings that cannot work.
    #[error("invalid validity: {0}")]
    Validity(String),
    /// Flags that say something else than the settings recorded with the root.
    #[error("the flags contradict the CA settings recorded in {origin}:\n  {}", differences.join("\n  "))]
    Contradicts {
        /// Where the settings were read.
        origin: String,
        /// `--flag: given X, recorded Y`, one per flag.
        differences: Vec<String>,
        /// What `--force` does for this command.
        force_effect: String,
    },
    /// A settings file that cannot be read back.
    #[error("'{}' is not a CA settings file: {reason}", path.display())]
    BadSettings {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Key or certificate generation failed.
    #[error("cannot generate the {what}")]
    Generate {
        /// What was being generated.
        what: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
}

impl Hinted for CaError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            CaError::NoCertDir { path } => format!(
                "create the certificates first: kubectl mesh-certs create --clusters east,west --dir {}",
                path.display()
            ),
            CaError::Missing { .. } | CaError::Incomplete { .. } => {
                "restore the file from a backup, or re-issue the set with kubectl mesh-certs create … --force".into()
            }
            CaError::Read { .. } | CaError::Write { .. } => "check the path and its permissions".into(),
            CaError::BadPem { .. } => {
                "give a PEM file: certificates as 'BEGIN CERTIFICATE', keys as PKCS#8, PKCS#1 or SEC1 ('BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE KEY', 'BEGIN EC PRIVATE KEY')".into()
            }
            CaError::KeyMismatch { .. } => "give the private key that was generated together with this certificate".into(),
            CaError::NotCa { .. } => "a mesh root must be a CA certificate; create one with kubectl mesh-certs create".into(),
            CaError::DifferentRoot { .. } => {
                "use another --dir, or pass --force to replace the root and re-issue every cluster under it (the old files are kept in DIR/backup/)".into()
            }
            CaError::Orphaned { .. } => "name every cluster of the directory in --clusters, or move those directories away first".into(),
            CaError::InvalidSan(_) => "give a DNS name (istiod.example.com) or an IP address (10.0.0.1)".into(),
            CaError::Validity(_) => "give --root-days and --intermediate-days as whole days above 0".into(),
            CaError::Contradicts { force_effect, .. } => format!(
                "drop those flags to keep the recorded settings, or --force replaces them ({force_effect})"
            ),
            CaError::BadSettings { path, .. } => format!(
                "fix or delete {} (without it the settings are read back from the certificates)",
                path.display()
            ),
            CaError::Generate { .. } => return None,
        })
    }
}
