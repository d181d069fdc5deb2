//! `mesh-certs create`: one root and one intermediate per cluster, written safely.
//!
//! Decisions come first and touch nothing: which root to use (generate, reuse the one in DIR,
//! or import the operator's own), which clusters to create, keep or replace. Only when every
//! decision is valid are keys generated (in parallel) and files written; files that `--force`
//! replaces are first copied to `DIR/backup/<stamp>/`. Re-running the same command is a no-op
//! that says so.

use super::CaError;
use super::describe::{describe, fingerprint};
use super::issue::{SigningCa, generate_keys, issue_intermediate, issue_root};
use super::pem::{key_matches, private_key, read_text, single_certificate, to_pem};
use super::profile::CaSettings;
use super::recorded::{self, SettingsFlags};
use super::store::{self, CLUSTER_FILES, CertDir};
use crate::names::ClusterName;
use crate::secret::Secret;
use serde::Serialize;
use std::path::PathBuf;
use time::OffsetDateTime;

/// An existing root the operator brings.
#[derive(Debug, Clone)]
pub struct ImportRoot {
    /// The root certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#1, PKCS#8 or SEC1).
    pub key: PathBuf,
}

/// What `create` should do.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The certificate directory.
    pub dir: CertDir,
    /// Clusters to issue intermediates for.
    pub clusters: Vec<ClusterName>,
    /// Key type, validity, organization, SANs, as given: a new root takes them over the
    /// defaults; an existing root's recorded settings must not be contradicted.
    pub settings: SettingsFlags,
    /// Use this root instead of generating one.
    pub import_root: Option<ImportRoot>,
    /// Replace existing material.
    pub force: bool,
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Newly written.
    Created,
    /// Already there, left as it was.
    Unchanged,
    /// Replaced (the old files are in the backup directory).
    Replaced,
    /// Copied in from the operator's own root.
    Imported,
}

/// One cluster's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOutcome {
    /// Cluster name.
    pub name: String,
    /// What happened.
    pub action: Action,
    /// The intermediate's end of validity (RFC 3339).
    pub not_after: String,
}

/// What `create` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReport {
    /// The directory.
    pub dir: String,
    /// What happened to the root.
    pub root: Action,
    /// The root's SHA-256 fingerprint.
    pub root_sha256: String,
    /// Per cluster, in the order given.
    pub clusters: Vec<ClusterOutcome>,
    /// Where replaced files were copied, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

impl CreateReport {
    /// True when nothing was written.
    pub fn unchanged(&self) -> bool {
        self.root == Action::Unchanged
            && self.clusters.iter().all(|c| c.action == Action::Unchanged)
    }
}

enum RootPlan {
    Reuse(SigningCa),
    Import(SigningCa, Action),
    Generate(Action),
}

/// Loads a root certificate and key and checks they belong together and form a CA.
pub fn load_root(
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
) -> Result<SigningCa, CaError> {
    let cert_der = single_certificate(cert_path, &read_text(cert_path)?)?;
    let key = private_key(key_path, &Secret::new(read_text(key_path)?))?;
    if !key_matches(&key, &cert_der) {
        return Err(CaError::KeyMismatch {
            key: key_path.to_path_buf(),
            cert: cert_path.to_path_buf(),
        });
    }
    let info = describe(&cert_der, OffsetDateTime::now_utc()).ok_or_else(|| CaError::BadPem {
        path: cert_path.to_path_buf(),
        reason: "not a valid X.509 certificate".into(),
    })?;
    if !info.is_ca {
        return Err(CaError::NotCa {
            path: cert_path.to_path_buf(),
        });
    }
    Ok(SigningCa {
        cert_der,
        key,
        not_after: info.not_after_time.unwrap_or(OffsetDateTime::UNIX_EPOCH),
    })
}

fn plan_root(opts: &CreateOptions) -> Result<RootPlan, CaError> {
    let dir = &opts.dir;
    let (cert, key) = (dir.root_cert(), dir.root_key());
    let has_root = cert.exists() || key.exists();
    let existing = if has_root {
        match (cert.exists(), key.exists()) {
            (true, true) => Some(load_root(&cert, &key)),
            (true, false) => Some(Err(CaError::Missing { path: key.clone() })),
            _ => Some(Err(CaError::Missing { path: cert.clone() })),
        }
    } else {
        None
    };
    match (&opts.import_root, existing) {
        (Some(import), existing) => {
            let imported = load_root(&import.cert, &import.key)?;
            match existing {
                None => Ok(RootPlan::Import(imported, Action::Imported)),
                Some(Ok(current)) if current.cert_der == imported.cert_der => {
                    Ok(RootPlan::Reuse(current))
                }
                Some(Ok(current)) if !opts.force => Err(CaError::DifferentRoot {
                    path: cert,
                    existing: fingerprint(&current.cert_der),
                    given: fingerprint(&imported.cert_der),
                }),
                Some(Err(e)) if !opts.force => Err(e),
                Some(_) => Ok(RootPlan::Import(imported, Action::Replaced)),
            }
        }
        (None, None) => Ok(RootPlan::Generate(Action::Created)),
        (None, Some(_)) if opts.force => Ok(RootPlan::Generate(Action::Replaced)),
        (None, Some(Ok(current))) => Ok(RootPlan::Reuse(current)),
        (None, Some(Err(e))) => Err(e),
    }
}

/// What `--force` does, for the hint of a refusal.
const FORCE_EFFECT: &str = "create --force issues a new root and intermediates with the flags' settings; the old files are kept in DIR/backup/";

/// The settings to issue with: the flags over the defaults for a new root; the recorded
/// settings for an existing one, refusing flags that contradict them (unless `--force`).
fn settings_for(opts: &CreateOptions, root_plan: &RootPlan) -> Result<CaSettings, CaError> {
    if !matches!(root_plan, RootPlan::Reuse(_)) {
        return Ok(opts.settings.over(&CaSettings::default()));
    }
    match recorded::read(&opts.dir)? {
        Some(rec) => recorded::reconcile(&opts.settings, &rec, opts.force, FORCE_EFFECT),
        None => Ok(opts.settings.over(&CaSettings::default())),
    }
}

/// Per cluster: create, keep or replace; refuses a cluster that is incomplete or that
/// istiod could not load, before anything is generated or written.
fn plan_clusters(
    opts: &CreateOptions,
    root_replaced: bool,
    now: OffsetDateTime,
) -> Result<Vec<Action>, CaError> {
    let dir = &opts.dir;
    let mut actions = Vec::new();
    for cluster in &opts.clusters {
        let present = dir.cluster_files_present(cluster);
        let action = match present.len() {
            0 => Action::Created,
            _ if opts.force || root_replaced => Action::Replaced,
            4 => {
                // Kept only if istiod could load it: parseable, chained, key matching (an
                // expired or not yet valid set is kept: rotation is the way to replace it).
                let report =
                    super::Bundle::read_local(dir, cluster)?.analyze(cluster.as_str(), now, 0);
                if let Some(p) = report.problems.iter().find(|p| {
                    p.severity == super::Severity::Error && p.kind != super::ProblemKind::Validity
                }) {
                    return Err(CaError::BadPem {
                        path: dir.cluster_dir(cluster),
                        reason: format!("{} (--force replaces it)", p.message),
                    });
                }
                Action::Unchanged
            }
            _ => {
                let missing = CLUSTER_FILES
                    .iter()
                    .find(|f| !present.contains(f))
                    .copied()
                    .unwrap_or("ca-cert.pem");
                return Err(CaError::Incomplete {
                    path: dir.cluster_file(cluster, missing),
                });
            }
        };
        actions.push(action);
    }
    if root_replaced {
        let orphans: Vec<String> = dir
            .clusters()?
            .into_iter()
            .filter(|c| !opts.clusters.contains(c))
            .map(|c| c.to_string())
            .collect();
        if !orphans.is_empty() {
            return Err(CaError::Orphaned { clusters: orphans });
        }
    }
    Ok(actions)
}

/// Runs `create` as of `now`.
pub fn create(opts: &CreateOptions, now: OffsetDateTime) -> Result<CreateReport, CaError> {
    let dir = &opts.dir;
    let root_plan = plan_root(opts)?;
    let new_root = !matches!(root_plan, RootPlan::Reuse(_));
    let root_replaced = matches!(
        root_plan,
        RootPlan::Import(_, Action::Replaced) | RootPlan::Generate(Action::Replaced)
    );
    let settings = settings_for(opts, &root_plan)?;
    let actions = plan_clusters(opts, root_replaced, now)?;

    // Keys, in parallel: the root's (if new) and each cluster that needs an intermediate.
    let needs: Vec<usize> = (0..opts.clusters.len())
        .filter(|&i| actions[i] != Action::Unchanged)
        .collect();
    let generate_root = matches!(root_plan, RootPlan::Generate(_));
    let mut keys =
        generate_keys(settings.key_type, needs.len() + usize::from(generate_root))?.into_iter();
    let (root, root_action) = match root_plan {
        RootPlan::Reuse(ca) => (ca, Action::Unchanged),
        RootPlan::Import(ca, action) => (ca, action),
        RootPlan::Generate(action) => {
            let key = keys.next().ok_or(CaError::Generate {
                what: "root key".into(),
                source: rcgen::Error::KeyGenerationUnavailable,
            })?;
            (issue_root(&settings, key, now)?, action)
        }
    };
    let mut issued = Vec::new();
    for (&i, key) in needs.iter().zip(keys) {
        issued.push((
            i,
            issue_intermediate(&opts.clusters[i], &settings, key, &root, now)?,
        ));
    }

    // Back up what is replaced, then write.
    let mut replaced_files = Vec::new();
    if new_root && root_action == Action::Replaced {
        replaced_files.extend([
            dir.root_cert(),
            dir.root_key(),
            recorded::settings_path(dir),
        ]);
    }
    for (i, _) in &issued {
        if actions[*i] == Action::Replaced {
            replaced_files.extend(
                CLUSTER_FILES
                    .iter()
                    .map(|f| dir.cluster_file(&opts.clusters[*i], f)),
            );
        }
    }
    store::ensure_private_dir(dir.path())?;
    let backup = store::backup(dir, &replaced_files, &store::backup_stamp(now))?;
    if new_root {
        store::write_atomic(&dir.root_key(), root.key_pem().expose().as_bytes(), 0o600)?;
        store::write_atomic(&dir.root_cert(), root.cert_pem().as_bytes(), 0o644)?;
        recorded::write(dir, &settings)?;
    }
    let root_pem = root.cert_pem();
    for (i, ca) in &issued {
        write_cluster(dir, &opts.clusters[*i], ca, &root_pem)?;
    }
    Ok(CreateReport {
        dir: dir.path().display().to_string(),
        root: root_action,
        root_sha256: fingerprint(&root.cert_der),
        clusters: outcomes(opts, &actions, &issued, now),
        backup: backup.map(|p| p.display().to_string()),
    })
}

fn outcomes(
    opts: &CreateOptions,
    actions: &[Action],
    issued: &[(usize, SigningCa)],
    now: OffsetDateTime,
) -> Vec<ClusterOutcome> {
    let mut outcomes = Vec::new();
    for (i, cluster) in opts.clusters.iter().enumerate() {
        let not_after = match issued.iter().find(|(j, _)| *j == i) {
            Some((_, ca)) => describe(&ca.cert_der, now)
                .map(|d| d.not_after)
                .unwrap_or_default(),
            None => existing_not_after(&opts.dir, cluster, now),
        };
        outcomes.push(ClusterOutcome {
            name: cluster.to_string(),
            action: actions[i],
            not_after,
        });
    }
    outcomes
}

/// Writes a cluster's four files: key first (0600), then certificate, root and chain.
pub fn write_cluster(
    dir: &CertDir,
    cluster: &ClusterName,
    ca: &SigningCa,
    root_pem: &str,
) -> Result<(), CaError> {
    store::ensure_private_dir(&dir.cluster_dir(cluster))?;
    let cert_pem = to_pem(&ca.cert_der);
    store::write_atomic(
        &dir.cluster_file(cluster, "ca-key.pem"),
        ca.key_pem().expose().as_bytes(),
        0o600,
    )?;
    store::write_atomic(
        &dir.cluster_file(cluster, "ca-cert.pem"),
        cert_pem.as_bytes(),
        0o644,
    )?;
    store::write_atomic(
        &dir.cluster_file(cluster, "root-cert.pem"),
        root_pem.as_bytes(),
        0o644,
    )?;
    let chain = format!("{cert_pem}{root_pem}");
    store::write_atomic(
        &dir.cluster_file(cluster, "cert-chain.pem"),
        chain.as_bytes(),
        0o644,
    )
}

fn existing_not_after(dir: &CertDir, cluster: &ClusterName, now: OffsetDateTime) -> String {
    let path = dir.cluster_file(cluster, "ca-cert.pem");
    read_text(&path)
        .ok()
        .and_then(|t| single_certificate(&path, &t).ok())
        .and_then(|der| describe(&der, now))
        .map(|d| d.not_after)
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;
