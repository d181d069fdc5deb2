//! `mesh-join --installer istioctl|helm`: the control plane installed by the tool the seeds
//! use (seed 002: `istioctl install -f`; clusters without the Sail operator: Helm's `base` and
//! `istiod` charts), run by the join in its order, and undone by `leave --purge`.
//!
//! The tool is found on PATH and its version checked against the mesh file's before anything
//! is written. What was installed is recorded on the Istio namespace (an annotation naming
//! the installer and a digest of the tool's version and the rendered input), so a second run
//! that would install the same thing runs nothing, and `leave --purge` uninstalls only what a
//! join installed. `--render-only` prints the rendered inputs and leaves the install to the
//! user, as before.

pub mod argv;
mod exec;

use super::Installer;
use crate::error::Error;
use crate::istio_version as version;
use crate::mesh::MeshSpec;
use crate::render::Printer;
use argv::{Charts, HELM_RELEASES, Target};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the installer runs.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Print the rendered inputs only (the user installs).
    pub render_only: bool,
    /// A local directory with the `base` and `istiod` charts (default: Istio's repository).
    pub charts: Option<PathBuf>,
    /// `--kubeconfig`, handed to the tool.
    pub kubeconfig: Option<PathBuf>,
}

/// An installer found on this machine, with the version it reports.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Which.
    pub installer: Installer,
    /// Its path.
    pub path: PathBuf,
    /// What is checked against the mesh: istioctl's version, or the charts' version.
    pub version: String,
    /// Helm's charts.
    pub charts: Charts,
}

/// The installer's program name.
pub fn program(installer: Installer) -> &'static str {
    if installer == Installer::Helm {
        "helm"
    } else {
        "istioctl"
    }
}

/// Finds the tool and checks its version against the mesh file's Istio version (a mismatch
/// is refused naming both). `None` for the Sail operator and with `--render-only`.
pub async fn find(
    installer: Installer,
    mesh: &MeshSpec,
    opts: &InstallOptions,
) -> Result<Option<Tool>, Error> {
    if installer == Installer::Sail || opts.render_only {
        return Ok(None);
    }
    let name = program(installer);
    let path = which::which(name).map_err(|_| {
        Error::input(
            format!("--installer {name}: {name} is not on PATH"),
            format!(
                "install {name} {} (https://istio.io/latest/docs/setup/install/), or add --render-only to print what it would install",
                mesh.istio.version()
            ),
        )
    })?;
    let wanted = mesh.istio.version();
    let (version, charts) = match installer {
        Installer::Helm => helm_charts(&path, wanted, opts).await?,
        _ => {
            let out = exec::output(&path, &["version", "--remote=false", "-o", "json"]).await?;
            let v = version::istioctl_client_version(&out).unwrap_or_default();
            (
                v,
                Charts::Repo {
                    version: String::new(),
                },
            )
        }
    };
    if !version::fits(&version, wanted) {
        let what = if installer == Installer::Helm {
            "the charts are"
        } else {
            "istioctl is"
        };
        return Err(Error::input(
            format!(
                "{what} version '{version}' ({}), the mesh file asks for Istio {wanted} (istio.version)",
                path.display()
            ),
            format!(
                "use {name} for Istio {wanted}, or set istio.version to the version it installs"
            ),
        ));
    }
    Ok(Some(Tool {
        installer,
        path,
        version,
        charts,
    }))
}

/// Helm's version is not Istio's: what is checked is the charts' (a local directory's
/// `istiod/Chart.yaml`, or the repository's chart at the mesh's version).
async fn helm_charts(
    helm: &Path,
    wanted: &str,
    opts: &InstallOptions,
) -> Result<(String, Charts), Error> {
    exec::output(helm, &["version", "--short"]).await?;
    match &opts.charts {
        Some(dir) => {
            for (_, chart) in HELM_RELEASES {
                let file = dir.join(chart).join("Chart.yaml");
                if !file.is_file() {
                    return Err(Error::input(
                        format!("--charts {}: no {}", dir.display(), file.display()),
                        "give the directory that holds Istio's base/ and istiod/ charts (manifests/charts in Istio's source, with istio-control/istio-discovery as istiod/)",
                    ));
                }
            }
            let file = dir.join("istiod").join("Chart.yaml");
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::input(
                    format!("{}: {e}", file.display()),
                    "check the chart directory",
                )
            })?;
            let v = version::chart_version(&text).unwrap_or_default();
            Ok((v, Charts::Dir(dir.clone())))
        }
        None => {
            let v = wanted.trim_start_matches('v').to_string();
            Ok((v.clone(), Charts::Repo { version: v }))
        }
    }
}

/// What the namespace annotation records for an install: the installer, its version and a
/// digest of the rendered input (pure).
pub fn record(tool: &Tool, rendered: &Value) -> String {
    let mut h = Sha256::new();
    h.update(tool.version.as_bytes());
    h.update(rendered.to_string().as_bytes());
    let digest: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{} {} sha256:{digest}",
        program(tool.installer),
        tool.version
    )
}

/// The installer a record names (`None`: not a join's install).
pub fn recorded_installer(record: Option<&str>) -> Option<Installer> {
    match record?.split(' ').next()? {
        "istioctl" => Some(Installer::Istioctl),
        "helm" => Some(Installer::Helm),
        _ => None,
    }
}

/// A private directory for the rendered input, removed when dropped.
fn temp_dir() -> Result<tempfile::TempDir, Error> {
    tempfile::tempdir()
        .map_err(|e| Error::input(format!("temporary directory: {e}"), "check TMPDIR"))
}

fn write_input(dir: &Path, file: &str, rendered: &Value) -> Result<PathBuf, Error> {
    let path = dir.join(file);
    let text = yaml_serde::to_string(rendered)
        .map_err(|e| Error::input(format!("cannot render {file}: {e}"), "report this"))?;
    std::fs::write(&path, text).map_err(|e| {
        Error::input(
            format!("cannot write {}: {e}", path.display()),
            "check the temporary directory",
        )
    })?;
    Ok(path)
}

/// Installs one cluster's control plane with the tool (`rendered`: the `IstioOperator` or
/// the Helm values), waiting as the tool does.
pub async fn install(
    tool: &Tool,
    target: &Target,
    cluster: &str,
    rendered: &Value,
    timeout: Duration,
    printer: &Printer,
) -> Result<(), Error> {
    let dir = temp_dir()?;
    let secs = timeout.as_secs().max(1);
    match tool.installer {
        Installer::Helm => {
            let values = write_input(dir.path(), "values.yaml", rendered)?;
            for (release, chart) in HELM_RELEASES {
                let args = argv::helm_install(release, chart, &values, &tool.charts, target, secs);
                exec::run_streamed(&tool.path, &args, cluster, printer).await?;
            }
        }
        _ => {
            let file = write_input(dir.path(), "istio-operator.yaml", rendered)?;
            let args = argv::istioctl_install(&file, target, secs);
            exec::run_streamed(&tool.path, &args, cluster, printer).await?;
        }
    }
    Ok(())
}

/// Uninstalls what a join installed in one cluster with `installer` (found on PATH): Helm's
/// releases of the join (by name, when they exist), or what the `IstioOperator` installed.
pub async fn uninstall(
    installer: Installer,
    target: &Target,
    cluster: &str,
    rendered: &Value,
    printer: &Printer,
) -> Result<(), Error> {
    let name = program(installer);
    let path = which::which(name).map_err(|_| {
        Error::input(
            format!(
                "{cluster}: a join installed its control plane with {name}, which is not on PATH"
            ),
            format!("install {name} to uninstall it, or run leave without --purge"),
        )
    })?;
    if installer == Installer::Helm {
        let list = exec::output(
            &path,
            &argv::helm_list(target)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .await?;
        let present = helm_release_names(&list);
        for (release, _) in HELM_RELEASES.iter().rev() {
            if present.iter().any(|p| p == release) {
                exec::run_streamed(
                    &path,
                    &argv::helm_uninstall(release, target),
                    cluster,
                    printer,
                )
                .await?;
            } else {
                printer.warn(&format!(
                    "{cluster}: Helm release {release} is not installed: nothing to uninstall"
                ));
            }
        }
        return Ok(());
    }
    let dir = temp_dir()?;
    let file = write_input(dir.path(), "istio-operator.yaml", rendered)?;
    exec::run_streamed(
        &path,
        &argv::istioctl_uninstall(&file, target),
        cluster,
        printer,
    )
    .await
}

/// Release names in `helm list -o json` output.
pub fn helm_release_names(json: &str) -> Vec<String> {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(installer: Installer, version: &str) -> Tool {
        Tool {
            installer,
            path: "/bin/x".into(),
            version: version.into(),
            charts: Charts::Repo {
                version: version.into(),
            },
        }
    }

    #[test]
    fn the_record_changes_with_the_input_and_the_version_and_names_the_installer() {
        let a = json!({"global": {"network": "n1"}});
        let b = json!({"global": {"network": "n2"}});
        let t = tool(Installer::Istioctl, "1.31.0");
        let r = record(&t, &a);
        assert!(r.starts_with("istioctl 1.31.0 sha256:"), "{r}");
        assert_eq!(r, record(&t, &a));
        assert_ne!(r, record(&t, &b));
        assert_ne!(r, record(&tool(Installer::Istioctl, "1.31.1"), &a));
        assert_eq!(recorded_installer(Some(&r)), Some(Installer::Istioctl));
        let h = record(&tool(Installer::Helm, "1.31.0"), &a);
        assert_eq!(recorded_installer(Some(&h)), Some(Installer::Helm));
        assert_eq!(recorded_installer(Some("sail whatever")), None);
        assert_eq!(recorded_installer(None), None);
    }

    #[test]
    fn helm_releases_are_read_from_its_list() {
        let list = r#"[{"name":"istio-base","namespace":"istio-system","status":"deployed"},{"name":"istiod","status":"deployed"}]"#;
        assert_eq!(helm_release_names(list), ["istio-base", "istiod"]);
        assert!(helm_release_names("[]").is_empty());
        assert!(helm_release_names("not json").is_empty());
    }
}
