//! Setting up the lab mesh of `lab_verify`, and what it must show when healthy.

use super::*;
use mesh_lab::Lab;
use mesh_lab::testing::{describe as text, expect_success as ok, run_plugin as run};
use serde_json::{Value, json};

/// Checks that decide whether the mesh works: each must pass for every cluster (or pair).
pub const DECISIVE: &[&str] = &[
    "cluster.facts",
    "trust.cacerts-present",
    "trust.chain-valid",
    "trust.shared-root",
    "trust.expiry",
    "trust.root-key-absent",
    "trust.root-configmap",
    "control-plane.istio-ready",
    "control-plane.istiod-pods",
    "control-plane.mesh-id",
    "control-plane.cluster-names",
    "control-plane.network-label",
    "control-plane.version-skew",
    "network.eastwest-service",
    "network.eastwest-pods",
    "network.cross-network-gateway",
    "remote.secret-present",
    "remote.kubeconfig",
    "remote.server-address",
    "remote.credentials",
    "remote.unique-claims",
    "istiod.remote-clusters-synced",
    "discovery.network-gateways",
];

pub fn setup(lab: &mut Lab, w: &std::path::Path) -> (String, String) {
    let certs = mesh_lab::testing::plugin_path("kubectl-mesh-certs");
    let join = mesh_lab::testing::plugin_path("kubectl-mesh-join");
    std::fs::write(
        w.join("mesh.yaml"),
        "meshID: mesh1\ncerts: ./mesh-certs\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.1}\n- {name: west, context: lab-2, network: network2, role: primary, eastWestAddress: 192.0.2.2}\n",
    )
    .unwrap();
    let create = [
        "create",
        "--clusters",
        "east,west",
        "--key-type",
        "ecdsa-p256",
    ];
    ok(run(&certs, lab, w, &create));
    let foreign = [
        "create",
        "--clusters",
        "west",
        "--key-type",
        "ecdsa-p256",
        "--dir",
        "foreign",
    ];
    ok(run(&certs, lab, w, &foreign));
    ok(run(&certs, lab, w, &["apply", "-f", "mesh.yaml"]));
    (certs, join)
}

pub fn pre_checks_pass_on_fresh_clusters(lab: &Lab, w: &std::path::Path) {
    let pre = run(VERIFY, lab, w, &["--pre", "-f", "mesh.yaml", "-o", "json"]);
    let report: Value = serde_json::from_slice(&pre.stdout).unwrap();
    assert_eq!(pre.status.code(), Some(0), "{report:#}");
    for (id, want) in [
        ("pre.reachable", "pass"),
        ("cluster.facts", "pass"),
        ("pre.kubernetes-version", "pass"),
        ("pre.sail-crds", "pass"),
        ("pre.permissions", "pass"),
        // kwok's nodes report kernel "kwok-0.8.0", which the check cannot read as a version.
        ("pre.kernel", "warn"),
        ("pre.load-balancer", "pass"),
        ("pre.unique-names", "pass"),
    ] {
        let r = results(&report, id);
        assert!(
            !r.is_empty() && r.iter().all(|c| c["result"] == want),
            "{id}: {r:#?}"
        );
    }
}

pub fn all_decisive_pass(report: &Value) {
    for id in DECISIVE {
        let r = results(report, id);
        assert!(!r.is_empty(), "{id} did not run: {report:#}");
        assert!(
            r.iter().all(|c| c["result"] == "pass"),
            "{id} did not pass: {r:#?}"
        );
    }
    let of = |result: &str| -> Vec<&str> {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["result"] == result)
            .map(|c| c["id"].as_str().unwrap())
            .collect()
    };
    assert_eq!(of("skip"), Vec::<&str>::new(), "everything was evaluated");
    let skipped = of("n/a");
    // Two primaries without remotes and without CNI: nothing exposes istiod, no remote names a
    // control plane, no IstioCNI is wanted, and those alone do not apply (two each); no
    // --service was given, which discovery.endpoints says once.
    let inapplicable = [
        "network.expose-istiod",
        "control-plane.cni-ready",
        "control-plane.control-plane-clusters",
        "discovery.endpoints",
    ];
    assert!(
        skipped.iter().all(|id| inapplicable.contains(id)),
        "{skipped:?}"
    );
    assert_eq!(skipped.len(), 7, "{skipped:?}");
}

/// A kubeconfig whose context lab-2 uses a service account that may read everything the
/// facts need except ConfigMaps (RBAC); returns its path.
pub fn forbidden_configmaps_kubeconfig(lab: &Lab, w: &std::path::Path) -> String {
    let rules = json!([
        {"apiGroups": [""], "resources": ["namespaces", "secrets", "services", "pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["sailoperator.io", "networking.istio.io"], "resources": ["*"], "verbs": ["get", "list"]},
    ]);
    for m in [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "verify-limited", "namespace": "default"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "verify-limited-token", "namespace": "default",
                "annotations": {"kubernetes.io/service-account.name": "verify-limited"}}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "verify-limited"}, "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "verify-limited"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "verify-limited"},
            "subjects": [{"kind": "ServiceAccount", "name": "verify-limited", "namespace": "default"}]}),
    ] {
        apply(lab, "lab-2", &m);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let token = loop {
        let b64 = kubectl(
            lab,
            "lab-2",
            &[
                "get",
                "secret",
                "verify-limited-token",
                "-n",
                "default",
                "-o",
                "jsonpath={.data.token}",
            ],
        );
        if !b64.is_empty() {
            use base64::Engine as _;
            let t = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap();
            break String::from_utf8(t).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no token was issued");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let path = w.join("limited.kubeconfig");
    std::fs::copy(lab.kubeconfig(), &path).unwrap();
    let kc = |args: &[&str]| {
        let o = std::process::Command::new(lab.bin_dir().join("kubectl"))
            .arg(format!("--kubeconfig={}", path.display()))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    kc(&[
        "config",
        "set-credentials",
        "verify-limited",
        &format!("--token={token}"),
    ]);
    kc(&["config", "set-context", "lab-2", "--user=verify-limited"]);
    path.display().to_string()
}

/// Contexts only (clusters named by their control planes), an unknown context, a lost API server.
pub fn contexts_and_unreachable(lab: &mut Lab, w: &std::path::Path) {
    let args = ["--context", "lab-1,lab-2", "--allow-loopback", "-o", "json"];
    let by_context = run(VERIFY, lab, w, &args);
    let report: Value = serde_json::from_slice(&by_context.stdout).unwrap();
    // Without the mesh file the east-west addresses are read from the gateway Services, where
    // mesh-join wrote the mesh file's eastWestAddress as externalIPs (the lab has no load
    // balancer): everything passes, the address named as found there.
    assert_eq!(by_context.status.code(), Some(0), "{report:#}");
    assert!(failing(&report).is_empty(), "{report:#}");
    let svc = results(&report, "network.eastwest-service");
    assert!(
        svc.len() == 2
            && svc
                .iter()
                .all(|c| c["message"].as_str().unwrap().contains("(externalIPs;")),
        "{svc:#?}"
    );
    assert!(
        results(&report, "remote.credentials")
            .iter()
            .any(|c| c["cluster"] == "east" && c["peer"] == "west" && c["result"] == "pass")
    );

    let unknown = run(VERIFY, lab, w, &["--context", "lab-1,nowhere"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nowhere"));
    lab.stop_process(1, "kube-apiserver");
    let down = run(
        VERIFY,
        lab,
        w,
        &["-f", "mesh.yaml", "--request-timeout", "5s"],
    );
    assert_eq!(down.status.code(), Some(2), "{}", text(&down));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("lab-2"),
        "{}",
        text(&down)
    );
    assert!(
        down.stdout.is_empty(),
        "nothing on stdout when it could not run"
    );
}
