//! A `cacerts` set (the four files istiod loads), wherever it comes from: a cluster's
//! directory on disk or a `cacerts` Secret in a cluster. One analysis serves `apply` (what is
//! there already), `status` (the live inventory) and `mesh-verify`'s trust checks.

use super::describe::{CertInfo, describe, fingerprint, signed_by};
use super::pem::{certificates, key_matches, private_key};
use super::store::CertDir;
use super::{CaError, Problem};
use crate::labels::CACERTS_KEYS;
use crate::names::ClusterName;
use crate::secret::Secret;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The four files of a `cacerts` set, by key. `ca-key.pem` is secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Where it came from (a directory, or `context/namespace/cacerts`), for messages.
    pub origin: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("origin", &self.origin)
            .field("keys", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a bundle holds and whether istiod would accept it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    /// Keys of the four that are missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The signing (intermediate) certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<CertInfo>,
    /// SHA-256 fingerprints of every root in `root-cert.pem` (several during a root rotation).
    pub roots: Vec<String>,
    /// The earliest end of validity among the roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_not_after: Option<String>,
    /// Whether the intermediate chains to a root of `root-cert.pem` through `cert-chain.pem`.
    pub chains: bool,
    /// Whether `ca-key.pem` is the intermediate's key.
    pub key_matches: bool,
    /// Whether a root's private key is in the bundle (it must never leave the operator's disk).
    pub root_key_present: bool,
    /// What is wrong, with hints.
    pub problems: Vec<Problem>,
}

impl Bundle {
    /// A bundle from raw files by key.
    pub fn from_files(origin: &str, files: BTreeMap<String, Vec<u8>>) -> Bundle {
        Bundle {
            origin: origin.to_string(),
            files,
        }
    }

    /// Reads `DIR/<cluster>/`; every one of the four files must be there.
    pub fn read_local(dir: &CertDir, cluster: &ClusterName) -> Result<Bundle, CaError> {
        let mut files = BTreeMap::new();
        for key in CACERTS_KEYS {
            let path = dir.cluster_file(cluster, key);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    files.insert(key.to_string(), bytes);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(CaError::Missing { path });
                }
                Err(source) => return Err(CaError::Read { path, source }),
            }
        }
        Ok(Bundle {
            origin: dir.cluster_dir(cluster).display().to_string(),
            files,
        })
    }

    /// A bundle from a Secret's `data` (base64) and `stringData`.
    pub fn from_secret(origin: &str, secret: &serde_json::Value) -> Bundle {
        use base64::Engine as _;
        let mut files = BTreeMap::new();
        if let Some(data) = secret["data"].as_object() {
            for (k, v) in data {
                if let Some(bytes) = v
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                {
                    files.insert(k.clone(), bytes);
                }
            }
        }
        if let Some(data) = secret["stringData"].as_object() {
            for (k, v) in data {
                if let Some(s) = v.as_str() {
                    files.insert(k.clone(), s.as_bytes().to_vec());
                }
            }
        }
        Bundle {
            origin: origin.to_string(),
            files,
        }
    }

    /// The files, base64-encoded, as a Secret's `data`.
    pub fn secret_data(&self) -> serde_json::Map<String, serde_json::Value> {
        use base64::Engine as _;
        self.files
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect()
    }

    /// One file's bytes.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.files.get(key).map(Vec::as_slice)
    }

    /// Whether the four istiod keys hold the same bytes in both.
    pub fn same_files(&self, other: &Bundle) -> bool {
        CACERTS_KEYS.iter().all(|k| self.get(k) == other.get(k))
    }

    fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(format!("{}/{key}", self.origin))
    }

    fn certs(&self, key: &str) -> Option<Vec<Vec<u8>>> {
        let text = std::str::from_utf8(self.get(key)?).ok()?;
        certificates(&self.path(key), text).ok()
    }

    /// Fingerprints of the roots in `root-cert.pem` (empty when missing or unreadable).
    pub fn root_fingerprints(&self) -> Vec<String> {
        self.certs("root-cert.pem")
            .unwrap_or_default()
            .iter()
            .map(|d| fingerprint(d))
            .collect()
    }

    /// The intermediate's DER.
    pub fn intermediate_der(&self) -> Option<Vec<u8>> {
        self.certs("ca-cert.pem")?.into_iter().next()
    }

    /// Checks the bundle as istiod does on load, as of `now`; `subject` names it in problems.
    pub fn analyze(&self, subject: &str, now: OffsetDateTime, warn_days: i64) -> BundleReport {
        let mut problems = Vec::new();
        let rotate = format!("kubectl mesh-certs rotate --cluster {subject}");
        let missing: Vec<String> = CACERTS_KEYS
            .iter()
            .filter(|k| !self.files.contains_key(**k))
            .map(|k| k.to_string())
            .collect();
        if !missing.is_empty() {
            problems.push(Problem::error(
                subject,
                &format!(
                    "{} lacks {} (istiod 1.28+ refuses to start with an incomplete bundle)",
                    self.origin,
                    missing.join(", ")
                ),
                &format!("kubectl mesh-certs apply --cluster {subject} --force"),
            ));
        }
        let roots = self.certs("root-cert.pem").unwrap_or_default();
        let chain = self.certs("cert-chain.pem").unwrap_or_default();
        let intermediate_der = self.intermediate_der();
        let intermediate = intermediate_der.as_deref().and_then(|d| describe(d, now));
        for key in ["ca-cert.pem", "root-cert.pem", "cert-chain.pem"] {
            if self.files.contains_key(key) && self.certs(key).is_none_or(|c| c.is_empty()) {
                problems.push(Problem::error(
                    subject,
                    &format!("{key} in {} is not PEM certificates", self.origin),
                    &rotate,
                ));
            }
        }
        let key = self.get("ca-key.pem").and_then(|bytes| {
            let text = Secret::new(String::from_utf8(bytes.to_vec()).ok()?);
            private_key(Path::new(&self.origin), &text).ok()
        });
        let key_ok = match (&key, &intermediate_der) {
            (Some(k), Some(c)) => key_matches(k, c),
            _ => false,
        };
        if self.files.contains_key("ca-key.pem") && !key_ok {
            problems.push(Problem::error(
                subject,
                "ca-key.pem is not the key of ca-cert.pem",
                &rotate,
            ));
        }
        let root_key_present = key
            .as_ref()
            .is_some_and(|k| roots.iter().any(|r| key_matches(k, r)));
        if root_key_present {
            problems.push(Problem::error(
                subject,
                "cacerts holds the ROOT private key: the root key must never leave the operator's disk",
                &format!(
                    "issue an intermediate (kubectl mesh-certs create --clusters {subject}) and apply it with --force; consider the root compromised"
                ),
            ));
        }
        let chains = match &intermediate_der {
            Some(der) => chains_to_root(der, &chain, &roots),
            None => false,
        };
        if intermediate_der.is_some() && !roots.is_empty() && !chains {
            problems.push(Problem::error(
                subject,
                &format!(
                    "ca-cert.pem does not chain to a root in root-cert.pem ({})",
                    roots
                        .iter()
                        .map(|r| short(&fingerprint(r)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &rotate,
            ));
        }
        if let Some(info) = &intermediate {
            if !info.is_ca {
                problems.push(Problem::error(
                    subject,
                    "ca-cert.pem is not a CA certificate: istiod cannot sign with it",
                    &rotate,
                ));
            }
            super::inspect::validity_problems(info, subject, now, warn_days, &mut problems);
        }
        let root_infos: Vec<CertInfo> = roots.iter().filter_map(|r| describe(r, now)).collect();
        for r in &root_infos {
            let mut found = Vec::new();
            super::inspect::validity_problems(r, "root", now, warn_days, &mut found);
            for mut p in found {
                p.subject = subject.to_string();
                p.message = format!("root {}: {}", short(&r.sha256), p.message);
                problems.push(p);
            }
        }
        BundleReport {
            missing,
            intermediate,
            roots: roots.iter().map(|r| fingerprint(r)).collect(),
            root_not_after: root_infos
                .iter()
                .min_by_key(|r| r.not_after_time)
                .map(|r| r.not_after.clone()),
            chains,
            key_matches: key_ok,
            root_key_present,
            problems,
        }
    }
}

/// Whether `leaf` reaches one of `roots` through certificates of `chain` (at most 5 links).
pub fn chains_to_root(leaf: &[u8], chain: &[Vec<u8>], roots: &[Vec<u8>]) -> bool {
    let mut current = leaf.to_vec();
    for _ in 0..5 {
        if roots.iter().any(|r| signed_by(&current, r)) {
            return true;
        }
        match chain
            .iter()
            .find(|c| c.as_slice() != current.as_slice() && signed_by(&current, c))
        {
            Some(next) => current = next.clone(),
            None => return false,
        }
    }
    false
}

/// The first bytes of a fingerprint, for messages and tables.
pub fn short(fp: &str) -> String {
    if fp.len() > 23 {
        format!("{}…", &fp[..23])
    } else {
        fp.to_string()
    }
}
