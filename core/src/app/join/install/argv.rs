//! The installers' command lines (pure): what `mesh-join --installer istioctl|helm` runs for a
//! cluster, and what `leave --purge` runs to undo it.

use crate::labels::ISTIO_NAMESPACE;
use std::path::{Path, PathBuf};

/// The Helm repository Istio publishes its charts in.
pub const ISTIO_CHART_REPO: &str = "https://istio-release.storage.googleapis.com/charts";

/// The Helm releases a join installs, in install order (`leave` removes them in reverse).
pub const HELM_RELEASES: [(&str, &str); 2] = [("istio-base", "base"), ("istiod", "istiod")];

/// Where a cluster is: the kubeconfig (default: the tool's own) and the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// The context.
    pub context: String,
}

/// Where the charts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charts {
    /// A local directory holding `base/` and `istiod/`.
    Dir(PathBuf),
    /// Istio's chart repository at this chart version.
    Repo {
        /// The chart version (the mesh's Istio version without `v`).
        version: String,
    },
}

fn kube_flags(t: &Target, context_flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = &t.kubeconfig {
        out.push("--kubeconfig".into());
        out.push(k.display().to_string());
    }
    out.push(context_flag.into());
    out.push(t.context.clone());
    out
}

/// `istioctl install -f FILE --context C -y` (istioctl waits for its components to be ready).
pub fn istioctl_install(file: &Path, t: &Target, timeout_secs: u64) -> Vec<String> {
    let mut out = vec!["install".into(), "-f".into(), file.display().to_string()];
    out.extend(kube_flags(t, "--context"));
    out.extend([
        "--readiness-timeout".into(),
        format!("{timeout_secs}s"),
        "-y".into(),
    ]);
    out
}

/// `istioctl uninstall -f FILE --context C -y`: removes what that `IstioOperator` installed,
/// nothing of other revisions (no `--purge`).
pub fn istioctl_uninstall(file: &Path, t: &Target) -> Vec<String> {
    let mut out = vec!["uninstall".into(), "-f".into(), file.display().to_string()];
    out.extend(kube_flags(t, "--context"));
    out.push("-y".into());
    out
}

/// `helm upgrade --install RELEASE CHART -n istio-system -f VALUES --wait` for one release.
pub fn helm_install(
    release: &str,
    chart: &str,
    values: &Path,
    charts: &Charts,
    t: &Target,
    timeout_secs: u64,
) -> Vec<String> {
    let mut out = vec!["upgrade".into(), "--install".into(), release.into()];
    match charts {
        Charts::Dir(d) => out.push(d.join(chart).display().to_string()),
        Charts::Repo { version } => out.extend([
            chart.into(),
            "--repo".into(),
            ISTIO_CHART_REPO.into(),
            "--version".into(),
            version.clone(),
        ]),
    }
    out.extend(["-n".into(), ISTIO_NAMESPACE.into()]);
    out.extend(["-f".into(), values.display().to_string()]);
    out.extend(kube_flags(t, "--kube-context"));
    out.extend([
        "--wait".into(),
        "--timeout".into(),
        format!("{timeout_secs}s"),
    ]);
    out
}

/// `helm uninstall RELEASE -n istio-system --wait`.
pub fn helm_uninstall(release: &str, t: &Target) -> Vec<String> {
    let mut out = vec!["uninstall".into(), release.into()];
    out.extend(["-n".into(), ISTIO_NAMESPACE.into()]);
    out.extend(kube_flags(t, "--kube-context"));
    out.push("--wait".into());
    out
}

/// `helm list -n istio-system -o json`: the releases there, to tell ours from others.
pub fn helm_list(t: &Target) -> Vec<String> {
    let mut out = vec!["list".into(), "-n".into(), ISTIO_NAMESPACE.into()];
    out.extend(kube_flags(t, "--kube-context"));
    out.extend(["-o".into(), "json".into()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            kubeconfig: Some("/k/config".into()),
            context: "east-ctx".into(),
        }
    }

    #[test]
    fn istioctl_installs_and_uninstalls_exactly_its_file_in_the_named_context() {
        let f = Path::new("/w/east.yaml");
        assert_eq!(
            istioctl_install(f, &target(), 300).join(" "),
            "install -f /w/east.yaml --kubeconfig /k/config --context east-ctx --readiness-timeout 300s -y"
        );
        assert_eq!(
            istioctl_uninstall(f, &target()).join(" "),
            "uninstall -f /w/east.yaml --kubeconfig /k/config --context east-ctx -y"
        );
        let bare = Target {
            kubeconfig: None,
            context: "c".into(),
        };
        assert!(!istioctl_uninstall(f, &bare).contains(&"--kubeconfig".to_string()));
        assert!(!istioctl_uninstall(f, &bare).contains(&"--purge".to_string()));
    }

    #[test]
    fn helm_takes_a_local_chart_or_the_repository_at_the_mesh_version() {
        let v = Path::new("/w/istiod-values.yaml");
        let local = helm_install(
            "istiod",
            "istiod",
            v,
            &Charts::Dir("/charts".into()),
            &target(),
            90,
        );
        assert_eq!(
            local.join(" "),
            "upgrade --install istiod /charts/istiod -n istio-system -f /w/istiod-values.yaml --kubeconfig /k/config --kube-context east-ctx --wait --timeout 90s"
        );
        let repo = Charts::Repo {
            version: "1.30.3".into(),
        };
        let remote = helm_install("istio-base", "base", v, &repo, &target(), 90);
        assert_eq!(
            remote[..8].join(" "),
            format!("upgrade --install istio-base base --repo {ISTIO_CHART_REPO} --version 1.30.3")
        );
        assert_eq!(
            helm_uninstall("istiod", &target()).join(" "),
            "uninstall istiod -n istio-system --kubeconfig /k/config --kube-context east-ctx --wait"
        );
        assert_eq!(
            helm_list(&target()).join(" "),
            "list -n istio-system --kubeconfig /k/config --kube-context east-ctx -o json"
        );
    }
}
