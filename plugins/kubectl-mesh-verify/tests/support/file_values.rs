//! A check with a mesh-file value compares against it: a mesh file that says another meshID
//! than the clusters were joined with fails `control-plane.mesh-id`, naming both (the same
//! clusters pass with the right file: the positive control is the green run before it).

use super::{Mesh, results};

pub fn mesh_id_is_compared_with_the_file(mesh: &Mesh) {
    let yaml = std::fs::read_to_string(mesh.dir.join("mesh.yaml")).unwrap();
    let other = yaml.replace("meshID: mesh1", "meshID: other");
    assert_ne!(yaml, other, "the fault landed");
    std::fs::write(mesh.dir.join("mesh-other-id.yaml"), other).unwrap();
    let (code, report) = mesh.verify_file("mesh-other-id.yaml", &["--allow-loopback"]);
    assert_eq!(code, Some(1), "{report:#}");
    let found = results(&report, "control-plane.mesh-id");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["result"], "fail", "{:#}", found[0]);
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("meshID other") && message.contains("mesh1"),
        "{message}"
    );
    let (_, report) = mesh.verify(&["--allow-loopback"]);
    assert_eq!(
        results(&report, "control-plane.mesh-id")[0]["result"],
        "pass",
        "{report:#}"
    );
}
