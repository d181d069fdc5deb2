//! A mesh built the Istio 1.4/1.5 way: its API server serves `networking.istio.io` only as
//! `v1alpha3`, and `mesh-verify` must still read its `.global` ServiceEntries (reading `v1`
//! alone saw none, so `legacy.global-dns` could never warn there).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use mesh_lab::Lab;
use mesh_lab::testing::run_plugin as run;
use serde_json::{Value, json};
use support::*;

/// The three networking kinds the checks read, served as Istio 1.4 served them: v1alpha3 only.
fn v1alpha3_crd(kind: &str, plural: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.networking.istio.io")},
        "spec": {"group": "networking.istio.io", "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{"name": "v1alpha3", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

#[test]
fn a_v1alpha3_only_mesh_has_its_global_service_entries_read() {
    let lab = Lab::up_without_crds(1).expect("lab");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    for (kind, plural) in [
        ("Gateway", "gateways"),
        ("ServiceEntry", "serviceentries"),
        ("VirtualService", "virtualservices"),
    ] {
        apply(&lab, "lab-1", &v1alpha3_crd(kind, plural));
    }
    kubectl(
        &lab,
        "lab-1",
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    );
    // The condition under test: v1 is not served, v1alpha3 is.
    let v1 = lab
        .kubectl("lab-1")
        .args(["get", "serviceentries.v1.networking.istio.io", "-A"])
        .output()
        .unwrap();
    assert!(!v1.status.success(), "v1 must not be served here");
    apply(
        &lab,
        "lab-1",
        &json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "ServiceEntry",
            "metadata": {"name": "httpbin-bar", "namespace": "default"},
            "spec": {"hosts": ["httpbin.bar.global"], "location": "MESH_INTERNAL", "resolution": "DNS",
                "addresses": ["240.0.0.2"], "ports": [{"name": "http1", "number": 8000, "protocol": "http"}],
                "endpoints": [{"address": "192.0.2.9", "ports": {"http1": 15443}}]}}),
    );
    let verify = env!("CARGO_BIN_EXE_kubectl-mesh_verify");
    let o = run(verify, &lab, w, &["--context", "lab-1", "-o", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let legacy = results(&report, "legacy.global-dns");
    assert_eq!(legacy.len(), 1, "{report:#}");
    assert_eq!(legacy[0]["result"], "warn", "{:#}", legacy[0]);
    assert!(
        legacy[0]["message"]
            .as_str()
            .unwrap()
            .contains("default/httpbin-bar"),
        "{:#}",
        legacy[0]
    );
    // cluster.facts passes: nothing of the old API made a read fail.
    let facts = results(&report, "cluster.facts");
    assert!(facts.iter().all(|c| c["result"] == "pass"), "{facts:#?}");
}
