//! What a join wants in each cluster, as manifests: pure functions of the mesh file.

use super::Installer;
use crate::cluster::identity;
use crate::labels::{CONTROL_PLANE_CLUSTERS, ISTIO_NAMESPACE, NETWORK_LABEL};
use crate::manifests::gateway::{self, Placement};
use crate::manifests::{istio, remote_secret};
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use crate::topology::is_read;
use serde_json::{Value, json};

/// Phase-1 objects of one cluster, in apply order.
pub fn base_objects(
    mesh: &MeshSpec,
    c: &ClusterSpec,
    istio_api: &str,
    remote_pilot_address: Option<&str>,
    installer: Installer,
    reader_rbac: bool,
) -> Vec<Value> {
    let mut out = vec![istio_namespace(c)];
    if installer == Installer::Sail {
        if mesh.istio.cni {
            out.push(istio::cni_namespace());
            out.push(istio::istio_cni(mesh, istio_api));
        }
        out.push(istio::istio(mesh, c, istio_api, remote_pilot_address));
    }
    let has_remotes = !mesh.remotes_of(&c.name).is_empty();
    if mesh.multi_network() || (c.role == Role::Primary && has_remotes) {
        let placement = if mesh.istio.gateways_on_infra_nodes {
            Placement::Infra
        } else {
            Placement::Any
        };
        out.extend(gateway::east_west(&c.network, placement));
    }
    if mesh.multi_network() && c.role == Role::Primary {
        out.push(gateway::cross_network_gateway());
    }
    if c.role == Role::Primary && has_remotes {
        out.extend(gateway::expose_istiod());
    }
    if is_read(mesh, &c.name) {
        let objects = remote_secret::reader_objects(c.role == Role::Remote);
        out.extend(objects.into_iter().filter(|o| reader_rbac || is_secret(o)));
    }
    out
}

fn istio_namespace(c: &ClusterSpec) -> Value {
    let mut ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ISTIO_NAMESPACE, "labels": {NETWORK_LABEL: c.network}},
    });
    if let (Role::Remote, Some(p)) = (c.role, &c.primary) {
        ns["metadata"]["annotations"] = json!({CONTROL_PLANE_CLUSTERS: p});
    }
    ns
}

/// True for a Secret (its content is never printed unless asked for).
pub fn is_secret(v: &Value) -> bool {
    v["kind"] == "Secret"
}

/// Every object a join may write in a cluster besides remote secrets, in any topology: what a
/// later run removes again when it wrote it and the mesh file no longer asks for it. The
/// `Istio` resource and the Istio namespace are not here: only `leave --purge` removes them.
pub fn join_universe(installer: Installer, istio_api: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if installer == Installer::Sail {
        out.push(json!({"apiVersion": istio_api, "kind": "IstioCNI",
            "metadata": {"name": istio::CONTROL_PLANE_NAME}}));
    }
    out.extend(gateway::east_west("any", Placement::Any));
    out.push(gateway::cross_network_gateway());
    out.extend(gateway::expose_istiod());
    out.extend(remote_secret::reader_objects(false));
    if installer == Installer::Sail {
        // Deleting a namespace takes everything in it: last.
        out.push(istio::cni_namespace());
    }
    out
}

/// The objects of `universe` that `desired` does not contain (by identity), as
/// identity-only manifests for delete steps, in the universe's order.
pub fn unwanted(universe: &[Value], desired: &[Value]) -> Vec<Value> {
    let key = |v: &Value| identity(v);
    universe
        .iter()
        .filter(|u| !desired.iter().any(|d| key(d) == key(u)))
        .map(identity_only)
        .collect()
}

/// A manifest reduced to what names the object.
pub fn identity_only(v: &Value) -> Value {
    let (api_version, kind, ns, name) = identity(v);
    let mut out = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = ns {
        out["metadata"]["namespace"] = json!(ns);
    }
    out
}

/// A Secret with `stringData` turned into `data`, as the API server stores it (so a second
/// run compares equal).
pub fn as_data(mut secret: Value) -> Value {
    use base64::Engine as _;
    if let Some(Value::Object(sd)) = secret.as_object_mut().and_then(|o| o.remove("stringData")) {
        let data: serde_json::Map<String, Value> = sd
            .into_iter()
            .map(|(k, v)| {
                let b = base64::engine::general_purpose::STANDARD
                    .encode(v.as_str().unwrap_or_default());
                (k, Value::String(b))
            })
            .collect();
        secret["data"] = Value::Object(data);
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mesh(text: &str) -> MeshSpec {
        MeshSpec::parse(text, Path::new("t")).unwrap()
    }

    const REMOTE: &str = "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary}\n  - {name: west, context: w, network: n1, role: remote, primary: east, eastWestAddress: 1.2.3.4}\n";
    const MULTI: &str = "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary}\n  - {name: west, context: w, network: n1, role: primary}\n";

    #[test]
    fn a_primary_that_loses_its_remote_no_longer_wants_the_istiod_exposure() {
        let before = mesh(REMOTE);
        let after = mesh(MULTI);
        let east = |m: &MeshSpec| {
            base_objects(
                m,
                &m.clusters[0],
                "sailoperator.io/v1",
                None,
                Installer::Sail,
                true,
            )
        };
        let gone = unwanted(
            &join_universe(Installer::Sail, "sailoperator.io/v1"),
            &east(&after),
        );
        let names: Vec<String> = gone.iter().map(crate::cluster::describe).collect();
        assert!(
            names.contains(&"Gateway istio-system/istiod-gateway".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"VirtualService istio-system/istiod-vs".to_string()));
        // Positive control: while the remote exists, the exposure is wanted.
        let kept = unwanted(
            &join_universe(Installer::Sail, "sailoperator.io/v1"),
            &east(&before),
        );
        assert!(
            !kept
                .iter()
                .any(|v| v["metadata"]["name"] == "istiod-gateway")
        );
        // Every universe entry is an object a topology can ask for, or the CNI pair.
        assert!(gone.iter().all(|v| v["metadata"]["name"].is_string()));
    }

    #[test]
    fn the_remote_namespace_names_its_primary_and_a_primary_does_not() {
        let m = mesh(REMOTE);
        let west = base_objects(
            &m,
            &m.clusters[1],
            "v",
            Some("1.2.3.4"),
            Installer::Sail,
            true,
        );
        assert_eq!(
            west[0]["metadata"]["annotations"][CONTROL_PLANE_CLUSTERS],
            "east"
        );
        let east = base_objects(&m, &m.clusters[0], "v", None, Installer::Sail, true);
        assert!(east[0]["metadata"].get("annotations").is_none());
    }

    #[test]
    fn string_data_becomes_base64_data() {
        let s = as_data(json!({"kind": "Secret", "stringData": {"k": "v"}}));
        assert_eq!(s["data"]["k"], "dg==");
        assert!(s.get("stringData").is_none());
    }
}
