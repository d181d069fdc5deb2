//! The CA settings a mesh was created with, kept beside the root.
//!
//! `create` records the settings of a new root (organisation, SANs, key type, lifetimes) in
//! `DIR/ca-settings.yaml`. Everything issued later under that root (`rotate`, `create` adding
//! a cluster) starts from those settings, so a renewed intermediate looks like the first one.
//! Directories made before the file existed have their settings read back from the root and
//! an intermediate ([`derive`]).
//!
//! A flag that says something else than the record is refused with both values side by
//! side; `--force` lets the flags win. The decisions are pure: [`SettingsFlags::differences`]
//! and [`reconcile`].

use super::CaError;
use super::describe::describe;
use super::pem::{read_text, single_certificate};
use super::profile::{CaSettings, INTERMEDIATE, KeyType};
use super::store::{self, CertDir};
use std::path::PathBuf;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The settings file's name, beside `root-cert.pem`.
pub const SETTINGS_FILE: &str = "ca-settings.yaml";

/// The settings flags of a command, `None` (or empty) where the flag was not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsFlags {
    /// `--key-type`.
    pub key_type: Option<KeyType>,
    /// `--root-days`.
    pub root_days: Option<u32>,
    /// `--intermediate-days`.
    pub intermediate_days: Option<u32>,
    /// `--org`.
    pub organization: Option<String>,
    /// `--san` (empty: not given).
    pub extra_sans: Vec<String>,
}

/// A flag that contradicts the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The flag (`--org`).
    pub flag: &'static str,
    /// Its value.
    pub given: String,
    /// The recorded value.
    pub recorded: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: given {}, recorded {}",
            self.flag, self.given, self.recorded
        )
    }
}

/// Where recorded settings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `DIR/ca-settings.yaml`.
    File(PathBuf),
    /// Read back from the certificates in this directory (no settings file).
    Derived(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Derived(d) => write!(
                f,
                "the root and intermediates in {} (it has no {SETTINGS_FILE})",
                d.display()
            ),
        }
    }
}

/// The settings of an existing root, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The settings.
    pub settings: CaSettings,
    /// Where they come from.
    pub origin: Origin,
}

fn quoted(text: &str) -> String {
    format!("'{text}'")
}

fn san_list(sans: &[String]) -> String {
    if sans.is_empty() {
        "(none)".into()
    } else {
        sans.iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn sorted(sans: &[String]) -> Vec<String> {
    let mut out = sans.to_vec();
    out.sort();
    out.dedup();
    out
}

impl SettingsFlags {
    /// The flags over `base`: what a new root and its intermediates are issued with.
    pub fn over(&self, base: &CaSettings) -> CaSettings {
        CaSettings {
            key_type: self.key_type.unwrap_or(base.key_type),
            root_days: self.root_days.unwrap_or(base.root_days),
            intermediate_days: self.intermediate_days.unwrap_or(base.intermediate_days),
            organization: self
                .organization
                .clone()
                .unwrap_or_else(|| base.organization.clone()),
            extra_sans: if self.extra_sans.is_empty() {
                base.extra_sans.clone()
            } else {
                self.extra_sans.clone()
            },
        }
    }

    /// Every given flag whose value is not the recorded one, in flag order.
    pub fn differences(&self, recorded: &CaSettings) -> Vec<Difference> {
        let mut out = Vec::new();
        let mut differ = |flag, given: String, recorded: String| {
            out.push(Difference {
                flag,
                given,
                recorded,
            })
        };
        if let Some(k) = self.key_type.filter(|k| *k != recorded.key_type) {
            differ(
                "--key-type",
                k.name().into(),
                recorded.key_type.name().into(),
            );
        }
        if let Some(d) = self.root_days.filter(|d| *d != recorded.root_days) {
            differ("--root-days", d.to_string(), recorded.root_days.to_string());
        }
        if let Some(d) = self
            .intermediate_days
            .filter(|d| *d != recorded.intermediate_days)
        {
            let was = recorded.intermediate_days.to_string();
            differ("--intermediate-days", d.to_string(), was);
        }
        if let Some(o) = self
            .organization
            .as_ref()
            .filter(|o| **o != recorded.organization)
        {
            differ("--org", quoted(o), quoted(&recorded.organization));
        }
        if !self.extra_sans.is_empty() && sorted(&self.extra_sans) != sorted(&recorded.extra_sans) {
            differ(
                "--san",
                san_list(&self.extra_sans),
                san_list(&recorded.extra_sans),
            );
        }
        out
    }
}

/// The settings to issue with under an existing root: the recorded ones, unless a flag
/// contradicts them; then the command is refused, or with `force` the flags win.
/// `force_effect` says in the hint what `--force` does for this command.
pub fn reconcile(
    flags: &SettingsFlags,
    recorded: &Recorded,
    force: bool,
    force_effect: &str,
) -> Result<CaSettings, CaError> {
    let differences = flags.differences(&recorded.settings);
    if differences.is_empty() || force {
        return Ok(flags.over(&recorded.settings));
    }
    Err(CaError::Contradicts {
        origin: recorded.origin.to_string(),
        differences: differences.iter().map(ToString::to_string).collect(),
        force_effect: force_effect.to_string(),
    })
}

/// `DIR/ca-settings.yaml`.
pub fn settings_path(dir: &CertDir) -> PathBuf {
    dir.path().join(SETTINGS_FILE)
}

/// Records `settings` beside the root (atomically, `0644`: nothing secret in it).
pub fn write(dir: &CertDir, settings: &CaSettings) -> Result<(), CaError> {
    let path = settings_path(dir);
    let body = yaml_serde::to_string(settings).map_err(|e| CaError::BadSettings {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let text = format!(
        "# The settings this mesh's root was created with; mesh-certs rotate and create reuse them.\n{body}"
    );
    store::write_atomic(&path, text.as_bytes(), 0o644)
}

/// The settings recorded in `dir`: the settings file, else read back from the certificates;
/// `None` when the directory has no root.
pub fn read(dir: &CertDir) -> Result<Option<Recorded>, CaError> {
    let path = settings_path(dir);
    if path.exists() {
        let settings =
            yaml_serde::from_str(&read_text(&path)?).map_err(|e| CaError::BadSettings {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        return Ok(Some(Recorded {
            settings,
            origin: Origin::File(path),
        }));
    }
    let root_path = dir.root_cert();
    if !root_path.exists() {
        return Ok(None);
    }
    let root = single_certificate(&root_path, &read_text(&root_path)?)?;
    let intermediate = first_intermediate(dir)?;
    Ok(Some(Recorded {
        settings: derive(&root, intermediate.as_deref()),
        origin: Origin::Derived(dir.path().to_path_buf()),
    }))
}

/// The first cluster's (in name order) intermediate that parses.
fn first_intermediate(dir: &CertDir) -> Result<Option<Vec<u8>>, CaError> {
    for cluster in dir.clusters()? {
        let path = dir.cluster_file(&cluster, "ca-cert.pem");
        let der = read_text(&path)
            .ok()
            .and_then(|t| single_certificate(&path, &t).ok());
        if der.is_some() {
            return Ok(der);
        }
    }
    Ok(None)
}

fn organization(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let org = cert.subject().iter_organization().next()?;
    org.as_str().ok().map(str::to_string)
}

/// Whole days a certificate was issued for (the issuing backdate of minutes rounds away).
fn lifetime_days(der: &[u8]) -> Option<u32> {
    let info = describe(der, time::OffsetDateTime::UNIX_EPOCH)?;
    let span = info.not_after_time? - info.not_before_time?;
    let days = (span.whole_seconds() + 43_200).div_euclid(86_400);
    u32::try_from(days).ok().filter(|d| *d > 0)
}

/// Settings read back from an existing root and (when there is one) an intermediate:
/// organisation, key type and extra SANs from the intermediate (what a new one must match),
/// lifetimes from each certificate's validity. Anything unreadable keeps its default.
pub fn derive(root_der: &[u8], intermediate_der: Option<&[u8]>) -> CaSettings {
    let defaults = CaSettings::default();
    let issued = intermediate_der.unwrap_or(root_der);
    let info = describe(issued, time::OffsetDateTime::UNIX_EPOCH);
    let extra_sans = match (intermediate_der, &info) {
        (Some(_), Some(info)) => info
            .sans
            .iter()
            .map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v).to_string())
            .filter(|s| !INTERMEDIATE.dns_sans.contains(&s.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    CaSettings {
        key_type: info
            .as_ref()
            .and_then(|i| KeyType::from_description(&i.key))
            .unwrap_or(defaults.key_type),
        root_days: lifetime_days(root_der).unwrap_or(defaults.root_days),
        intermediate_days: intermediate_der
            .and_then(lifetime_days)
            .unwrap_or(defaults.intermediate_days),
        organization: organization(issued)
            .or_else(|| organization(root_der))
            .unwrap_or(defaults.organization),
        extra_sans,
    }
}

#[cfg(test)]
#[path = "recorded_tests.rs"]
mod tests;
