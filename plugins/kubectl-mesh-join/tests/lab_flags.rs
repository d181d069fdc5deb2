//! `kubectl mesh-join` flags whose effect needs an API server, on one primary-remote lab mesh:
//! dry runs of join and leave write nothing (audit logs, with the real run as the positive
//! control), `--installer helm|istioctl --render-only` render what istioctl accepts, `--export
//! --include-secrets` writes the remote secret with the cluster's real token (and leaves it out
//! without the flag), and `leave --purge` removes the control plane.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use mesh_lab::Lab;
use mesh_lab::audit::{events_since_except, marks, writes_since};
use mesh_lab::testing::{
    describe as text, expect_success as ok, join_mesh, kubectl_json, run_plugin as run,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const JOIN: &str = env!("CARGO_BIN_EXE_kubectl-mesh_join");

const MESH: &str = "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n";

fn prepare(lab: &Lab, w: &Path) {
    std::fs::write(w.join("mesh.yaml"), MESH).unwrap();
    let certs = mesh_lab::testing::plugin_path("kubectl-mesh-certs");
    ok(run(
        &certs,
        lab,
        w,
        &[
            "create",
            "--clusters",
            "east,west",
            "--key-type",
            "ecdsa-p256",
        ],
    ));
    ok(run(&certs, lab, w, &["apply", "-f", "mesh.yaml"]));
}

/// Runs `args`, asserts exit 0 and that no cluster stored a write (barrier as positive control).
fn writes_nothing(lab: &Lab, w: &Path, args: &[&str]) -> Output {
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
fn dry_run_deletes(lab: &Lab, m: &[usize]) -> Vec<Vec<String>> {
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
fn installs(stdout: &str, what: &str) -> Vec<(String, String)> {
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
fn istioctl_generate(lab: &Lab, file: &Path, doc: &str) -> Output {
    std::fs::write(file, doc).unwrap();
    Command::new(lab.bin("istioctl").unwrap())
        .args(["manifest", "generate", "-f"])
        .arg(file)
        .output()
        .unwrap()
}

fn check_installers(lab: &Lab, w: &Path) {
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

fn check_export_secrets(lab: &Lab, w: &Path) {
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

#[test]
fn dry_runs_installers_exports_and_purge_on_a_primary_remote_mesh() {
    let lab = Lab::up(2).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    prepare(&lab, w);

    // Dry runs on fresh clusters: the whole plan shown, nothing stored.
    for mode in ["--dry-run=client", "--dry-run=server"] {
        let o = writes_nothing(
            &lab,
            w,
            &[
                "-f",
                "mesh.yaml",
                "--allow-loopback",
                "--create-reader",
                mode,
                "-o",
                "yaml",
            ],
        );
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(
            shown.matches("kind: Istio\n").count() >= 2,
            "{mode}: the plan lacks a control plane per cluster:\n{shown}"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nothing was written"),
            "{}",
            text(&o)
        );
    }
    check_installers(&lab, w);

    // --no-wait: the control planes only, and it says what it left for the next run.
    let nw = ok(run(
        JOIN,
        &lab,
        w,
        &["-f", "mesh.yaml", "--allow-loopback", "--no-wait"],
    ));
    assert!(
        String::from_utf8_lossy(&nw.stderr).contains(
            "--no-wait: applied the control planes only; left for a run without --no-wait"
        ),
        "{}",
        text(&nw)
    );
    for ctx in ["lab-1", "lab-2"] {
        assert!(
            kubectl_json(&lab, ctx, &["get", "istios.sailoperator.io", "default"]).is_some(),
            "{ctx}: --no-wait did not apply the control plane"
        );
    }
    for (ctx, kind, name) in [
        ("lab-1", "secret", "istio-remote-secret-west"),
        ("lab-1", "deployment", "istio-eastwestgateway"),
    ] {
        assert!(
            kubectl_json(&lab, ctx, &["get", kind, name, "-n", "istio-system"]).is_none(),
            "{ctx}: --no-wait went on to {kind} {name}"
        );
    }

    // Positive control of the dry runs: the same join without them writes.
    let m = marks(&lab);
    ok(join_mesh(JOIN, &lab, w));
    let writes = writes_since(&lab, &m);
    assert!(
        writes.iter().all(|w| !w.is_empty()),
        "the join wrote nothing somewhere: {writes:?}"
    );
    check_export_secrets(&lab, w);

    // leave: a dry run writes nothing, lists the removals and sends each of them to the API
    // server with dryRun=All; --purge takes the control plane.
    let before_dry = marks(&lab);
    let dry = writes_nothing(
        &lab,
        w,
        &[
            "leave",
            "-f",
            "mesh.yaml",
            "--cluster",
            "west",
            "--purge",
            "--dry-run=server",
            "--yes",
        ],
    );
    let listed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        listed.contains("delete") && listed.contains("istio-remote-secret-west"),
        "{}",
        text(&dry)
    );
    let dry_deletes = dry_run_deletes(&lab, &before_dry);
    assert!(
        dry_deletes
            .iter()
            .flatten()
            .any(|d| d == "secrets istio-remote-secret-west")
            && dry_deletes[1].iter().any(|d| d == "istios default"),
        "leave --dry-run=server did not send its deletes to the API servers: {dry_deletes:?}"
    );
    assert!(kubectl_json(&lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_some());
    ok(run(
        JOIN,
        &lab,
        w,
        &[
            "leave",
            "-f",
            "mesh.yaml",
            "--cluster",
            "west",
            "--purge",
            "--yes",
        ],
    ));
    assert!(
        kubectl_json(&lab, "lab-2", &["get", "istios.sailoperator.io", "default"]).is_none(),
        "--purge left the control plane"
    );
    let ns = kubectl_json(&lab, "lab-2", &["get", "namespace", "istio-system"]);
    assert!(
        ns.as_ref()
            .is_none_or(|n| n["metadata"]["deletionTimestamp"].is_string()),
        "--purge left the namespace: {ns:?}"
    );
    assert!(
        kubectl_json(
            &lab,
            "lab-1",
            &[
                "get",
                "secret",
                "istio-remote-secret-west",
                "-n",
                "istio-system"
            ]
        )
        .is_none(),
        "east still reads west"
    );
}
