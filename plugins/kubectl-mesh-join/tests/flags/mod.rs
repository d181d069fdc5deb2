//! What the flag sections of `lab_flags` share: writes counted around a run, the dry-run
//! deletes a leave sends, the documents `--installer` renders and istioctl takes, and the
//! remote secret `--export --include-secrets` writes.

pub mod bad_input;

use super::join::JOIN;
use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::audit::{events_since_except, marks, writes_since};
use mesh_lab::testing::{describe as text, expect_success as ok, run_plugin as run};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

pub const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

/// Runs `args`, asserts exit 0 and that no cluster stored a write (barrier as positive control).
pub fn writes_nothing(lab: &Lab, w: &Path, args: &[&str]) -> Output {
    let m = marks(lab);
    let o = ok(run(JOIN, lab, w, args));
    let writes = writes_since(lab, &m);
    assert!(
        writes.iter().all(Vec::is_empty),
        "{args:?} wrote {writes:?}\n{}",
        text(&o)
    );
    o
}

/// Deletes sent with dryRun=All per cluster since `m`: `resource name`.
pub fn dry_run_deletes(lab: &Lab, m: &[usize]) -> Vec<Vec<String>> {
    events_since_except(lab, m, &[])
        .iter()
        .map(|events| {
            events
                .iter()
                .filter(|e| {
                    e["verb"] == "delete"
                        && e["stage"] == "ResponseComplete"
                        && mesh_lab::audit::is_dry_run(e)
                })
                .map(|e| {
                    let r = e["objectRef"]["resource"].as_str().unwrap_or_default();
                    format!(
                        "{r} {}",
                        e["objectRef"]["name"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .collect()
}

/// The documents of `--installer` output on stdout, by cluster.
pub fn installs(stdout: &str, what: &str) -> Vec<(String, String)> {
    // The documents come first, then the plan table.
    let docs = stdout.split("\nCLUSTER ").next().unwrap_or_default();
    docs.split("---\n")
        .filter_map(|doc| {
            let first = doc.lines().next()?;
            let rest = first.strip_prefix("# cluster: ")?;
            let (cluster, kind) = rest.split_once(": ")?;
            (kind == what).then(|| (cluster.to_string(), doc.to_string()))
        })
        .collect()
}

/// `istioctl manifest generate -f` of `doc` written to `file`.
pub fn istioctl_generate(lab: &Lab, file: &Path, doc: &str) -> Output {
    std::fs::write(file, doc).unwrap();
    Command::new(lab.bin("istioctl").unwrap())
        .args(["manifest", "generate", "-f"])
        .arg(file)
        .output()
        .unwrap()
}

/// `--installer helm|istioctl --render-only` write nothing and render documents istioctl takes:
/// the Helm values of the istiod chart (west's naming its cluster, network and east's gateway)
/// and the IstioOperator documents as they are.
pub fn check_installers(lab: &Lab, w: &Path) {
    // Helm values for the istiod chart: the same values istioctl renders that chart with.
    let helm = writes_nothing(
        lab,
        w,
        &[
            "plan",
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--installer",
            "helm",
            "--render-only",
        ],
    );
    let docs = installs(
        &String::from_utf8_lossy(&helm.stdout),
        "Helm values (istiod chart)",
    );
    assert_eq!(docs.len(), 2, "{}", text(&helm));
    for (cluster, values) in &docs {
        let body: String = values
            .lines()
            .skip(1)
            .map(|l| format!("    {l}\n"))
            .collect();
        let operator = format!(
            "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  values:\n{body}"
        );
        let generated = istioctl_generate(lab, &w.join(format!("helm-{cluster}.yaml")), &operator);
        assert_eq!(
            generated.status.code(),
            Some(0),
            "istioctl refused {cluster}'s Helm values:\n{operator}\n{}",
            text(&generated)
        );
        let out = String::from_utf8_lossy(&generated.stdout);
        assert!(
            out.contains(&format!("\"clusterName\": \"{cluster}\"")),
            "{cluster}"
        );
        if cluster == "west" {
            assert!(
                out.contains("/inject/cluster/west/net/network2") && out.contains("- 192.0.2.1")
            );
        }
    }
    // IstioOperator documents: istioctl takes them as they are.
    let istioctl = writes_nothing(
        lab,
        w,
        &[
            "plan",
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--installer",
            "istioctl",
            "--render-only",
        ],
    );
    let docs = installs(
        &String::from_utf8_lossy(&istioctl.stdout),
        "IstioOperator (istioctl install -f)",
    );
    assert_eq!(docs.len(), 2, "{}", text(&istioctl));
    for (cluster, doc) in &docs {
        let generated = istioctl_generate(lab, &w.join(format!("iop-{cluster}.yaml")), doc);
        assert_eq!(generated.status.code(), Some(0), "{}", text(&generated));
    }
}

/// `--export` writes nothing to the clusters and leaves the remote secret out of the files;
/// `--export --include-secrets` writes it, mode 0600, holding west's real reader token.
pub fn check_export_secrets(lab: &Lab, w: &Path) {
    // east reads west: its remote secret holds west's reader token.
    let token_b64 = lab
        .kubectl("lab-2")
        .args([
            "get",
            "secret",
            "istio-reader-service-account-istio-remote-secret-token",
            "-n",
            "istio-system",
            "-o",
            "jsonpath={.data.token}",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&token_b64.stdout)
            .unwrap(),
    )
    .unwrap();
    assert!(token.len() > 100, "{}", text(&token_b64));
    let secret_file = |dir: &str| {
        std::fs::read_dir(w.join(dir).join("east"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with("-secret-istio-remote-secret-west.yaml")
            })
    };
    let without = writes_nothing(
        lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--export", "plain"],
    );
    assert!(secret_file("plain").is_none(), "{}", text(&without));
    writes_nothing(
        lab,
        w,
        &[
            "-f",
            "mesh.yaml",
            "--allow-loopback",
            "--export",
            "full",
            "--include-secrets",
        ],
    );
    let path = secret_file("full").expect("the remote secret is exported");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let views = mesh_lab::testing::leak_views(&std::fs::read_to_string(&path).unwrap());
    assert!(
        views.contains(&token),
        "the exported secret lacks west's token"
    );
}
