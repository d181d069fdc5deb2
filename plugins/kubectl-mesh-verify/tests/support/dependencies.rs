//! Sail's `DependenciesHealthy`: an `Istio` whose istiod depends on an `IstioCNI` that does
//! not exist reports `DependenciesHealthy=False IstioCNINotFound` (on OpenShift the profile
//! makes that dependency; the lab's operator does not run on OpenShift, so the test asks for it
//! with `values.pilot.cni.enabled`, the same switch). The operator writes the condition; verify
//! fails `control-plane.istio-ready` for west naming it, and a join's wait ends with exit 1
//! naming it. Put back, the operator reports the dependency healthy and both pass again
//! (positive controls).

use super::{Mesh, patch_west_istio, results};
use mesh_lab::testing::{describe, kubectl_json, run_plugin};
use serde_json::Value;

fn dependencies(mesh: &Mesh) -> Option<Value> {
    let istio = kubectl_json(
        mesh.lab,
        "lab-2",
        &["get", "istios.sailoperator.io", "default"],
    )?;
    let current = istio["status"]["observedGeneration"] == istio["metadata"]["generation"];
    let found = istio["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "DependenciesHealthy")
        .cloned();
    found.filter(|_| current)
}

/// West's `DependenciesHealthy` once the operator has reported on the current spec.
fn reported(mesh: &Mesh, status: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = dependencies(mesh);
        if let Some(c) = now.as_ref().filter(|c| c["status"] == status) {
            return c.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the operator did not report {status}: {now:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

pub fn unhealthy_dependencies_are_named(mesh: &Mesh) {
    patch_west_istio(
        mesh,
        "merge",
        r#"{"spec":{"values":{"pilot":{"cni":{"enabled":true}}}}}"#,
    );
    let landed = reported(mesh, "False");
    assert_eq!(
        landed["reason"], "IstioCNINotFound",
        "the fault landed: {landed:#}"
    );
    let (code, report) = mesh.verify(&["--allow-loopback"]);
    let args = ["-f", "mesh.yaml", "--allow-loopback", "--timeout", "8s"];
    let joined = run_plugin(&mesh.join, mesh.lab, mesh.dir, &args);
    patch_west_istio(
        mesh,
        "json",
        r#"[{"op":"remove","path":"/spec/values/pilot/cni"}]"#,
    );
    assert_eq!(code, Some(1), "{report:#}");
    let west = results(&report, "control-plane.istio-ready")
        .into_iter()
        .find(|c| c["cluster"] == "west")
        .cloned()
        .expect("istio-ready for west");
    assert_eq!(west["result"], "fail", "{west:#}");
    let message = west["message"].as_str().unwrap();
    assert!(
        message.contains("DependenciesHealthy") && message.contains("IstioCNINotFound"),
        "{message}"
    );
    assert_eq!(joined.status.code(), Some(1), "{}", describe(&joined));
    let said = String::from_utf8_lossy(&joined.stderr);
    assert!(
        said.contains("DependenciesHealthy") && said.contains("IstioCNINotFound"),
        "{said}"
    );
    // Put back: the operator reports the dependency healthy; verify and the join pass.
    reported(mesh, "True");
    let (code, report) = mesh.verify_until(&["--allow-loopback"], |r| r["success"] == true);
    assert_eq!(code, Some(0), "{report:#}");
    mesh.rejoin();
}
