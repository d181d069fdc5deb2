//! The certificate directory on the operator's disk, and safe writes into it.
//!
//! Layout (what istiod's `cacerts` expects per cluster):
//! ```text
//! DIR/root-cert.pem  DIR/root-key.pem            the mesh root (the key never leaves this disk)
//! DIR/ca-settings.yaml                            the settings the root was created with
//!                                                 (organisation, SANs, key type, lifetimes)
//! DIR/<cluster>/ca-cert.pem  ca-key.pem  root-cert.pem  cert-chain.pem
//! DIR/backup/<UTC stamp>/…                        files replaced by --force or rotation
//! ```
//! Directories are `0700`, private keys `0600`, every file is written to a temporary file in
//! the same directory and renamed into place, so a crash never leaves half a key.

use super::CaError;
use crate::names::ClusterName;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The four files of a cluster's `cacerts`, in the order istiod documents them.
pub const CLUSTER_FILES: [&str; 4] = [
    "ca-cert.pem",
    "ca-key.pem",
    "root-cert.pem",
    "cert-chain.pem",
];
/// The root certificate's file name.
pub const ROOT_CERT: &str = "root-cert.pem";
/// The root key's file name.
pub const ROOT_KEY: &str = "root-key.pem";
/// The sub-directory that keeps replaced files.
pub const BACKUP_DIR: &str = "backup";

/// A certificate directory.
#[derive(Debug, Clone)]
pub struct CertDir {
    root: PathBuf,
}

impl CertDir {
    /// The directory at `path` (it may not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CertDir { root: path.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `DIR/root-cert.pem`.
    pub fn root_cert(&self) -> PathBuf {
        self.root.join(ROOT_CERT)
    }

    /// `DIR/root-key.pem`.
    pub fn root_key(&self) -> PathBuf {
        self.root.join(ROOT_KEY)
    }

    /// SHA-256 of the mesh root in this directory, when it has one.
    pub fn root_fingerprint(&self) -> Result<Option<String>, CaError> {
        let path = self.root_cert();
        if !path.exists() {
            return Ok(None);
        }
        let der = super::pem::single_certificate(&path, &super::pem::read_text(&path)?)?;
        Ok(Some(super::describe::fingerprint(&der)))
    }

    /// `DIR/<cluster>`.
    pub fn cluster_dir(&self, cluster: &ClusterName) -> PathBuf {
        self.root.join(cluster.as_str())
    }

    /// `DIR/<cluster>/<file>`.
    pub fn cluster_file(&self, cluster: &ClusterName, file: &str) -> PathBuf {
        self.cluster_dir(cluster).join(file)
    }

    /// Which of a cluster's four files exist.
    pub fn cluster_files_present(&self, cluster: &ClusterName) -> Vec<&'static str> {
        CLUSTER_FILES
            .iter()
            .copied()
            .filter(|f| self.cluster_file(cluster, f).exists())
            .collect()
    }

    /// Clusters present in the directory: sub-directories holding any of the four files, sorted.
    pub fn clusters(&self) -> Result<Vec<ClusterName>, CaError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CaError::Read {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name == BACKUP_DIR || !path.is_dir() {
                continue;
            }
            if CLUSTER_FILES.iter().any(|f| path.join(f).exists())
                && let Ok(cluster) = ClusterName::parse(name)
            {
                names.push(cluster);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Creates `dir` (and parents) with mode `0700` for what it creates.
pub fn ensure_private_dir(dir: &Path) -> Result<(), CaError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| CaError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename),
/// with `mode` set before the data is visible under its name.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let err = |source| CaError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".mesh-certs-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The name of a backup directory made at `now` (`20261124T150000Z`).
pub fn backup_stamp(now: time::OffsetDateTime) -> String {
    now.format(&time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_else(|_| "backup".into())
}

/// Moves `files` (paths inside `dir`) into `dir/backup/<stamp>/`, keeping their relative paths.
/// Returns the backup directory when anything was moved.
pub fn backup(dir: &CertDir, files: &[PathBuf], stamp: &str) -> Result<Option<PathBuf>, CaError> {
    // Never reuse a backup directory: two runs within one second get `<stamp>`, `<stamp>-2`, ….
    let base = dir.path().join(BACKUP_DIR);
    let mut target = base.join(stamp);
    let mut n = 2;
    while target.exists() {
        target = base.join(format!("{stamp}-{n}"));
        n += 1;
    }
    let mut moved = false;
    for file in files.iter().filter(|f| f.exists()) {
        let relative = file.strip_prefix(dir.path()).unwrap_or(file.as_path());
        let dest = target.join(relative);
        if let Some(parent) = dest.parent() {
            ensure_private_dir(parent)?;
        }
        std::fs::copy(file, &dest).map_err(|source| CaError::Write {
            path: dest.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| CaError::Write {
                    path: dest.clone(),
                    source,
                },
            )?;
        }
        moved = true;
    }
    Ok(moved.then_some(target))
}

#[cfg(test)]
mod backup_tests {
    use super::*;

    #[test]
    fn backups_within_one_second_never_overwrite_each_other() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CertDir::new(tmp.path());
        let file = tmp.path().join("root-cert.pem");
        std::fs::write(&file, "first").unwrap();
        let a = backup(&dir, std::slice::from_ref(&file), "20261124T000000Z")
            .unwrap()
            .unwrap();
        std::fs::write(&file, "second").unwrap();
        let b = backup(&dir, std::slice::from_ref(&file), "20261124T000000Z")
            .unwrap()
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(
            std::fs::read_to_string(a.join("root-cert.pem")).unwrap(),
            "first"
        );
        assert_eq!(
            std::fs::read_to_string(b.join("root-cert.pem")).unwrap(),
            "second"
        );
    }
}
