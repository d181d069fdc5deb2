//! A check with a mesh-file value compares against it: a mesh file that says another meshID,
//! another network for west and makes west a remote of east, over clusters joined otherwise,
//! fails `control-plane.mesh-id`, `control-plane.network-label` and `control-plane.role`, each
//! naming both values. The positive control: the same clusters pass each with the right file,
//! in a run of its own right after.

use super::{Mesh, results};

fn only(report: &serde_json::Value, id: &str, cluster: Option<&str>) -> serde_json::Value {
    let found: Vec<_> = results(report, id)
        .into_iter()
        .filter(|c| cluster.is_none_or(|n| c["cluster"] == n))
        .cloned()
        .collect();
    assert_eq!(found.len(), 1, "{id} {cluster:?}: {found:#?}");
    found[0].clone()
}

pub fn mesh_file_values_are_compared(mesh: &Mesh) {
    let yaml = std::fs::read_to_string(mesh.dir.join("mesh.yaml")).unwrap();
    let west = "{name: west, context: lab-2, network: network2, role: primary,";
    let other = yaml.replace("meshID: mesh1", "meshID: other").replace(
        west,
        "{name: west, context: lab-2, network: network9, role: remote, primary: east,",
    );
    assert!(
        other.contains("meshID: other") && other.contains("network9"),
        "the fault landed: {other}"
    );
    std::fs::write(mesh.dir.join("mesh-other.yaml"), other).unwrap();
    let (code, report) = mesh.verify_file("mesh-other.yaml", &["--allow-loopback"]);
    assert_eq!(code, Some(1), "{report:#}");
    let expect = [
        ("control-plane.mesh-id", None, ["meshID other", "mesh1"]),
        (
            "control-plane.network-label",
            Some("west"),
            ["network2", "network9"],
        ),
        (
            "control-plane.role",
            Some("west"),
            ["runs as a primary", "makes it a remote"],
        ),
    ];
    for (id, cluster, named) in expect {
        let c = only(&report, id, cluster);
        assert_eq!(c["result"], "fail", "{c:#}");
        let message = c["message"].as_str().unwrap();
        assert!(named.iter().all(|n| message.contains(n)), "{id}: {message}");
    }
    let (_, report) = mesh.verify(&["--allow-loopback"]);
    for (id, cluster, _) in expect {
        assert_eq!(
            only(&report, id, cluster)["result"],
            "pass",
            "{id}: {report:#}"
        );
    }
}
