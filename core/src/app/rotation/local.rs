//! The rotation on the operator's disk: the new root beside the old one (`prepare`), each
//! cluster's files as a stage leaves them, and the root swap of `finish`. The root keys never
//! leave this directory; every key file is `0600`; replaced files go to `DIR/backup/<stamp>/`.

use super::stages::{compose, issued_by};
use super::state::{self, RootCert, RotationState, SCHEMA, Stage};
use crate::ca::bundle::Bundle;
use crate::ca::create::load_root;
use crate::ca::issue::{SigningCa, generate_keys, issue_intermediate, issue_root};
use crate::ca::recorded;
use crate::ca::store::{self, CLUSTER_FILES, CertDir, ROOT_CERT, ROOT_KEY};
use crate::ca::{CaError, CaSettings};
use crate::error::Error;
use crate::names::ClusterName;
use time::OffsetDateTime;

/// What `prepare` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A rotation was already prepared (nothing written).
    Already(RotationState),
    /// The new root was issued and the record written (or, in a dry run, would be).
    Created(RotationState),
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The settings the mesh root was made with (the new root is made the same way).
fn settings(dir: &CertDir) -> Result<CaSettings, Error> {
    Ok(recorded::read(dir)?.map(|r| r.settings).unwrap_or_default())
}

/// `prepare`: a new root in `DIR/next-root/` (same recorded settings) and the record.
/// A root left there by an interrupted `prepare` is reused; `write: false` writes nothing.
pub fn prepare(dir: &CertDir, now: OffsetDateTime, write: bool) -> Result<Prepared, Error> {
    if let Some(existing) = state::read(dir)? {
        return Ok(Prepared::Already(existing));
    }
    let old_ca = load_root(&dir.root_cert(), &dir.root_key())?;
    let old = RootCert::parse(&dir.root_cert(), &old_ca.cert_pem())?;
    let next = state::next_dir(dir);
    let new_ca = if next.root_cert().exists() {
        load_root(&next.root_cert(), &next.root_key())?
    } else {
        let s = settings(dir)?;
        let key = generate_keys(s.key_type, 1)?.pop().ok_or_else(|| {
            Error::input("key generation produced no key", "run the command again")
        })?;
        issue_root(&s, key, now)?
    };
    let new = RootCert::parse(&next.root_cert(), &new_ca.cert_pem())?;
    let record = RotationState {
        schema_version: SCHEMA.into(),
        old_root: old.sha256,
        new_root: new.sha256,
        old_root_pem: old.pem,
        stage: Stage::Prepare,
        started: rfc3339(now),
        reissued: None,
        clusters: Vec::new(),
    };
    if write {
        store::ensure_private_dir(next.path())?;
        store::write_atomic(
            &next.root_key(),
            new_ca.key_pem().expose().as_bytes(),
            0o600,
        )?;
        store::write_atomic(&next.root_cert(), new_ca.cert_pem().as_bytes(), 0o644)?;
        state::write(dir, &record)?;
    }
    Ok(Prepared::Created(record))
}

/// The two roots of a prepared rotation: the old one from the record, the new one from
/// `DIR/next-root/` (or, once `finish` has moved it, from `DIR`).
pub fn roots(dir: &CertDir, record: &RotationState) -> Result<(RootCert, RootCert), Error> {
    let old = RootCert::parse(&state::state_path(dir), &record.old_root_pem)?;
    let next = state::next_dir(dir);
    let path = if next.root_cert().exists() {
        next.root_cert()
    } else {
        dir.root_cert()
    };
    let new = RootCert::read(&path)?;
    if new.sha256 != record.new_root {
        return Err(Error::input(
            format!(
                "{} is root {}, but {} rotates to {}",
                path.display(),
                new.sha256,
                state::state_path(dir).display(),
                record.new_root
            ),
            "restore the new root from DIR/backup/, or move rotation.json away and start again with prepare",
        ));
    }
    Ok((old, new))
}

/// The new root with its key (for `reissue`), from `DIR/next-root/`.
pub fn new_signer(dir: &CertDir) -> Result<SigningCa, Error> {
    let next = state::next_dir(dir);
    Ok(load_root(&next.root_cert(), &next.root_key())?)
}

/// The cluster's files in the directory.
pub fn local(dir: &CertDir, cluster: &ClusterName) -> Result<Bundle, Error> {
    Bundle::read_local(dir, cluster).map_err(|e| {
        Error::input(
            format!("cluster '{cluster}': {e}"),
            format!(
                "the rotation works from the mesh's certificate directory: kubectl mesh-certs create --clusters {cluster} --dir {}",
                dir.path().display()
            ),
        )
    })
}

/// What a stage works with: both roots, the new root's key (only `reissue` signs), and the
/// settings recorded with the mesh root.
#[derive(Debug)]
pub struct Material {
    /// The root being replaced.
    pub old: RootCert,
    /// The new root.
    pub new: RootCert,
    /// The new root with its key, for `reissue`.
    pub signer: Option<SigningCa>,
    /// Settings of new intermediates.
    pub settings: CaSettings,
}

/// What `cluster`'s `cacerts` holds at `target`, from its files in the directory; for
/// `reissue`, a new intermediate under the new root unless the directory already has one
/// (an interrupted run), issued in memory only.
pub fn desired(
    target: Stage,
    local: &Bundle,
    cluster: &ClusterName,
    m: &Material,
    now: OffsetDateTime,
) -> Result<Bundle, Error> {
    let (old, new, settings) = (&m.old, &m.new, &m.settings);
    let cert = local.get("ca-cert.pem").unwrap_or_default();
    let key = local.get("ca-key.pem").unwrap_or_default();
    let int = local.intermediate_der().unwrap_or_default();
    let under_new = issued_by(&int, new);
    let trusted = super::stages::trusted_at(target, old, new);
    if target != Stage::Reissue || under_new {
        let signer_root = if under_new { new } else { old };
        return Ok(compose(cert, key, signer_root, &trusted));
    }
    let Some(root) = m.signer.as_ref() else {
        return Err(Error::input(
            "the new root's key is not in the certificate directory",
            "restore DIR/next-root/ from DIR/backup/",
        ));
    };
    let key = generate_keys(settings.key_type, 1)?
        .pop()
        .ok_or_else(|| Error::input("key generation produced no key", "run the command again"))?;
    let ca = issue_intermediate(cluster, settings, key, root, now)?;
    Ok(compose(
        ca.cert_pem().as_bytes(),
        ca.key_pem().expose().as_bytes(),
        new,
        &trusted,
    ))
}

/// Everything a stage after `prepare` works with; the new root's key only for `reissue`.
pub fn material(dir: &CertDir, record: &RotationState, target: Stage) -> Result<Material, Error> {
    let (old, new) = roots(dir, record)?;
    let signer = if target == Stage::Reissue && state::next_dir(dir).root_cert().exists() {
        Some(new_signer(dir)?)
    } else {
        None
    };
    Ok(Material {
        old,
        new,
        signer,
        settings: settings(dir)?,
    })
}

/// Writes `bundle` as the cluster's four files (key `0600`), the old ones backed up first.
pub fn write_cluster(
    dir: &CertDir,
    cluster: &ClusterName,
    bundle: &Bundle,
    stamp: &str,
) -> Result<(), Error> {
    let files: Vec<_> = CLUSTER_FILES
        .iter()
        .map(|f| dir.cluster_file(cluster, f))
        .collect();
    store::backup(dir, &files, stamp)?;
    store::ensure_private_dir(&dir.cluster_dir(cluster))?;
    for f in CLUSTER_FILES {
        let mode = if f == "ca-key.pem" { 0o600 } else { 0o644 };
        let bytes = bundle.get(f).unwrap_or_default();
        store::write_atomic(&dir.cluster_file(cluster, f), bytes, mode)?;
    }
    Ok(())
}

/// `finish` on disk: the old root (certificate and key) to `DIR/backup/<stamp>/`, the new
/// one becomes `DIR/root-cert.pem` / `root-key.pem`, `DIR/next-root/` goes. Returns the
/// backup directory, or `None` when this was done already.
pub fn swap_root(
    dir: &CertDir,
    new: &RootCert,
    stamp: &str,
) -> Result<Option<std::path::PathBuf>, Error> {
    let next = state::next_dir(dir);
    if !next.root_cert().exists() {
        return Ok(None);
    }
    let incoming = load_root(&next.root_cert(), &next.root_key())?;
    if crate::ca::describe::fingerprint(&incoming.cert_der) != new.sha256 {
        return Err(CaError::BadPem {
            path: next.root_cert(),
            reason: "not the new root of this rotation".into(),
        }
        .into());
    }
    let backup = store::backup(dir, &[dir.root_cert(), dir.root_key()], stamp)?;
    store::write_atomic(
        &dir.root_key(),
        incoming.key_pem().expose().as_bytes(),
        0o600,
    )?;
    store::write_atomic(&dir.root_cert(), incoming.cert_pem().as_bytes(), 0o644)?;
    for f in [ROOT_KEY, ROOT_CERT] {
        let path = next.path().join(f);
        std::fs::remove_file(&path).map_err(|source| CaError::Write { path, source })?;
    }
    let _ = std::fs::remove_dir(next.path());
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-25 09:00 UTC)
    }

    fn east() -> ClusterName {
        ClusterName::parse("east").unwrap()
    }

    fn created(tmp: &std::path::Path) -> CertDir {
        crate::test_support::cert_dir(tmp, &["east"], now())
    }

    fn mode(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn prepare_writes_once_a_dry_run_never_and_an_interrupted_one_keeps_its_root() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = created(tmp.path());
        let next = state::next_dir(&dir);
        assert!(matches!(
            prepare(&dir, now(), false).unwrap(),
            Prepared::Created(_)
        ));
        assert!(!next.path().exists() && !state::state_path(&dir).exists());
        let Prepared::Created(first) = prepare(&dir, now(), true).unwrap() else {
            panic!("created")
        };
        assert_eq!(mode(&next.root_key()), 0o600);
        assert_eq!(mode(&state::state_path(&dir)), 0o600);
        // The new root is made with the recorded settings (ECDSA here, not the RSA default).
        let new = load_root(&next.root_cert(), &next.root_key()).unwrap();
        assert!(new.key_pem().expose().len() < 400, "an ECDSA key");
        assert_eq!(
            prepare(&dir, now(), true).unwrap(),
            Prepared::Already(first.clone())
        );
        // Killed after the root, before the record: the root on disk is kept.
        std::fs::remove_file(state::state_path(&dir)).unwrap();
        let Prepared::Created(again) = prepare(&dir, now(), true).unwrap() else {
            panic!("created")
        };
        assert_eq!(again.new_root, first.new_root);
        assert_eq!(again.old_root, first.old_root);
    }

    #[test]
    fn reissue_reuses_an_intermediate_the_directory_already_has_under_the_new_root() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = created(tmp.path());
        let Prepared::Created(record) = prepare(&dir, now(), true).unwrap() else {
            panic!("created")
        };
        let m = material(&dir, &record, Stage::Reissue).unwrap();
        let old_files = Bundle::read_local(&dir, &east()).unwrap();
        let fresh = desired(Stage::Reissue, &old_files, &east(), &m, now()).unwrap();
        let int = fresh.intermediate_der().unwrap();
        assert!(issued_by(&int, &m.new) && !issued_by(&int, &m.old));
        assert_eq!(
            fresh.root_fingerprints(),
            [m.old.sha256.clone(), m.new.sha256.clone()]
        );
        // Two runs without a write issue two different intermediates...
        let other = desired(Stage::Reissue, &old_files, &east(), &m, now()).unwrap();
        assert_ne!(other.intermediate_der(), fresh.intermediate_der());
        // ...but once the directory holds one, it is the one.
        write_cluster(&dir, &east(), &fresh, "20261125T090000Z").unwrap();
        assert_eq!(mode(&dir.cluster_file(&east(), "ca-key.pem")), 0o600);
        let local_files = Bundle::read_local(&dir, &east()).unwrap();
        let resumed = desired(Stage::Reissue, &local_files, &east(), &m, now()).unwrap();
        assert!(resumed.same_files(&fresh));
        // finish keeps it and trusts only the new root.
        let done = desired(Stage::Finish, &local_files, &east(), &m, now()).unwrap();
        assert_eq!(done.intermediate_der(), fresh.intermediate_der());
        assert_eq!(done.root_fingerprints(), vec![m.new.sha256.clone()]);
    }

    #[test]
    fn the_root_swap_backs_up_the_old_pair_and_happens_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = created(tmp.path());
        let Prepared::Created(record) = prepare(&dir, now(), true).unwrap() else {
            panic!("created")
        };
        let (old, new) = roots(&dir, &record).unwrap();
        let old_key = std::fs::read(dir.root_key()).unwrap();
        let backup = swap_root(&dir, &new, "20261125T090000Z").unwrap().unwrap();
        assert_eq!(RootCert::read(&dir.root_cert()).unwrap(), new);
        assert_eq!(mode(&dir.root_key()), 0o600);
        assert_eq!(std::fs::read(backup.join("root-key.pem")).unwrap(), old_key);
        assert_eq!(mode(&backup.join("root-key.pem")), 0o600);
        assert_eq!(RootCert::read(&backup.join("root-cert.pem")).unwrap(), old);
        assert!(!state::next_dir(&dir).path().exists());
        // Done already: nothing moves; the roots are still found (the new one in DIR).
        assert_eq!(swap_root(&dir, &new, "20261125T090001Z").unwrap(), None);
        assert_eq!(roots(&dir, &record).unwrap(), (old, new));
    }
}
