//! What a join wants in each cluster, as manifests: pure functions of the mesh file.

use super::Installer;
use crate::cluster::identity;
use crate::labels::{CONTROL_PLANE_CLUSTERS, INSTALL_ANNOTATION, ISTIO_NAMESPACE, NETWORK_LABEL};
use crate::manifests::gateway::{self, Placement};
use crate::manifests::{istio, remote_secret};
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use crate::topology::is_read;
use serde_json::{Value, json};

/// The steps of a join in a cluster, in the order they are applied (the seeds' order): the
/// control plane must be Ready before gateways are created (their pods are injected by it),
/// and the reader token needs its ServiceAccount, which the control plane's charts create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Namespace with labels, `IstioCNI`, `Istio`.
    ControlPlane,
    /// East-west gateway, cross-network gateway, istiod exposure.
    Gateways,
    /// The reader token Secret (and, with `--create-reader`, the reader account and RBAC).
    ReaderToken,
    /// Remote secrets in the reading clusters.
    RemoteSecrets,
}

impl Stage {
    /// How the stage is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::ControlPlane => "control plane",
            Stage::Gateways => "gateways and exposure",
            Stage::ReaderToken => "reader token",
            Stage::RemoteSecrets => "remote secrets",
        }
    }
}

/// What a cluster's objects are made from besides the mesh file.
#[derive(Debug, Clone, Copy)]
pub struct Render<'a> {
    /// The Sail API version served.
    pub istio_api: &'a str,
    /// A remote's pilot address.
    pub pilot: Option<&'a str>,
    /// The installer.
    pub installer: Installer,
    /// Create the reader ServiceAccount and RBAC ourselves (no installer does).
    pub create_reader: bool,
    /// The reader token Secret (the join's, or the one a rotation made current).
    pub reader_token: &'a str,
    /// With a lifetime: `reader_token` is the anchor of short-lived bound tokens of that
    /// lifetime (an Opaque Secret the TokenRequest API binds them to), not a token Secret.
    pub reader_ttl: Option<u64>,
    /// `--installer istioctl|helm`: the record of the install, annotated on the namespace.
    pub install_record: Option<&'a str>,
}

/// One cluster's objects per stage, in apply order.
pub fn stage_objects(mesh: &MeshSpec, c: &ClusterSpec, r: Render<'_>) -> Vec<(Stage, Value)> {
    let mut out = vec![(Stage::ControlPlane, istio_namespace(c, r.install_record))];
    if r.installer == Installer::Sail {
        if mesh.istio.cni {
            out.push((Stage::ControlPlane, istio::cni_namespace()));
            out.push((Stage::ControlPlane, istio::istio_cni(mesh, r.istio_api)));
        }
        out.push((
            Stage::ControlPlane,
            istio::istio(mesh, c, r.istio_api, r.pilot),
        ));
    }
    let has_remotes = !mesh.remotes_of(&c.name).is_empty();
    if mesh.multi_network() || (c.role == Role::Primary && has_remotes) {
        let placement = if mesh.istio.gateways_on_infra_nodes {
            Placement::Infra
        } else {
            Placement::Any
        };
        out.extend(
            gateway::east_west(&c.network, placement, c.east_west_address.as_deref())
                .into_iter()
                .map(|g| (Stage::Gateways, g)),
        );
    }
    if mesh.multi_network() && c.role == Role::Primary {
        out.push((Stage::Gateways, gateway::cross_network_gateway()));
    }
    if c.role == Role::Primary && has_remotes {
        out.extend(
            gateway::expose_istiod()
                .into_iter()
                .map(|g| (Stage::Gateways, g)),
        );
    }
    if is_read(mesh, &c.name) {
        let objects =
            remote_secret::reader_objects(c.role == Role::Remote, r.reader_token, r.reader_ttl);
        let wanted = objects
            .into_iter()
            .filter(|o| r.create_reader || is_secret(o));
        out.extend(wanted.map(|o| (Stage::ReaderToken, o)));
    }
    out
}

/// Every object of one cluster (all stages), in apply order: what `--export` writes.
pub fn base_objects(mesh: &MeshSpec, c: &ClusterSpec, r: Render<'_>) -> Vec<Value> {
    stage_objects(mesh, c, r)
        .into_iter()
        .map(|(_, o)| o)
        .collect()
}

fn istio_namespace(c: &ClusterSpec, install_record: Option<&str>) -> Value {
    let mut ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ISTIO_NAMESPACE, "labels": {NETWORK_LABEL: c.network}},
    });
    if let (Role::Remote, Some(p)) = (c.role, &c.primary) {
        ns["metadata"]["annotations"][CONTROL_PLANE_CLUSTERS] = json!(p);
    }
    if let Some(r) = install_record {
        ns["metadata"]["annotations"][INSTALL_ANNOTATION] = json!(r);
    }
    ns
}

/// True for a Secret (its content is never printed unless asked for).
pub fn is_secret(v: &Value) -> bool {
    v["kind"] == "Secret"
}

/// Every object a join may write in a cluster besides remote secrets, in any topology, with
/// its stage: what a later run removes again when it wrote it and the mesh file no longer asks
/// for it. The `Istio` resource and the Istio namespace are not here (only `leave --purge`
/// removes them), nor are the reader objects of a cluster that is still read (whoever made
/// them, the cluster still needs them).
pub fn join_universe(
    installer: Installer,
    istio_api: &str,
    still_read: bool,
) -> Vec<(Stage, Value)> {
    let mut out = Vec::new();
    if installer == Installer::Sail {
        out.push((
            Stage::ControlPlane,
            json!({"apiVersion": istio_api, "kind": "IstioCNI",
            "metadata": {"name": istio::CONTROL_PLANE_NAME}}),
        ));
        // Deleting a namespace takes everything in it: after the IstioCNI.
        out.push((Stage::ControlPlane, istio::cni_namespace()));
    }
    let gateways = gateway::east_west("any", Placement::Any, None)
        .into_iter()
        .chain([gateway::cross_network_gateway()])
        .chain(gateway::expose_istiod());
    out.extend(gateways.map(|g| (Stage::Gateways, g)));
    if !still_read {
        out.extend(
            remote_secret::reader_objects(false, &remote_secret::token_secret_name(), None)
                .into_iter()
                .map(|o| (Stage::ReaderToken, o)),
        );
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
        let east = |m: &MeshSpec| base_objects(m, &m.clusters[0], render(None, true));
        let gone = unwanted(&universe(true), &east(&after));
        let names: Vec<String> = gone.iter().map(crate::cluster::describe).collect();
        assert!(
            names.contains(&"Gateway istio-system/istiod-gateway".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"VirtualService istio-system/istiod-vs".to_string()));
        // Positive control: while the remote exists, the exposure is wanted.
        let kept = unwanted(&universe(true), &east(&before));
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
        let west = base_objects(&m, &m.clusters[1], render(Some("1.2.3.4"), true));
        assert_eq!(
            west[0]["metadata"]["annotations"][CONTROL_PLANE_CLUSTERS],
            "east"
        );
        let east = base_objects(&m, &m.clusters[0], render(None, true));
        assert!(east[0]["metadata"].get("annotations").is_none());
    }

    #[test]
    fn an_east_west_ip_becomes_the_gateway_services_external_ip() {
        let service = |text: &str, i: usize| {
            let m = mesh(text);
            base_objects(&m, &m.clusters[i], render(None, false))
                .into_iter()
                .find(|v| v["kind"] == "Service")
                .unwrap()
        };
        let ip = "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary, eastWestAddress: 192.0.2.1}\n  - {name: west, context: w, network: n2, role: primary}\n";
        assert_eq!(
            service(ip, 0)["spec"]["externalIPs"],
            serde_json::json!(["192.0.2.1"])
        );
        // A hostname (one network only: the remotes' pilot address) is not an IP: left to
        // DNS, not written where the API server wants an IP.
        let name = "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary, eastWestAddress: gw.example.com}\n  - {name: west, context: w, network: n1, role: remote, primary: east}\n";
        let svc = service(name, 0);
        assert!(svc["spec"].get("externalIPs").is_none(), "{svc}");
        assert_eq!(svc["metadata"]["labels"]["topology.istio.io/network"], "n1");
    }

    fn render(pilot: Option<&str>, create_reader: bool) -> Render<'_> {
        Render {
            istio_api: "sailoperator.io/v1",
            pilot,
            installer: Installer::Sail,
            create_reader,
            reader_token: "istio-reader-service-account-istio-remote-secret-token",
            reader_ttl: None,
            install_record: None,
        }
    }

    fn universe(still_read: bool) -> Vec<Value> {
        join_universe(Installer::Sail, "sailoperator.io/v1", still_read)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn stages_follow_the_seeds_order_and_the_reader_account_is_the_charts() {
        let m = mesh(REMOTE);
        let east = stage_objects(&m, &m.clusters[0], render(None, false));
        let stages: Vec<Stage> = east.iter().map(|(s, _)| *s).collect();
        assert!(stages.windows(2).all(|w| w[0] <= w[1]), "{stages:?}");
        assert_eq!(
            east.iter().find(|(_, o)| o["kind"] == "Istio").unwrap().0,
            Stage::ControlPlane
        );
        assert_eq!(
            east.iter().find(|(_, o)| o["kind"] == "Gateway").unwrap().0,
            Stage::Gateways
        );
        // west is read by east: only the token Secret is ours unless --create-reader.
        let west = stage_objects(&m, &m.clusters[1], render(Some("1.2.3.4"), false));
        let reader: Vec<&str> = west
            .iter()
            .filter(|(s, _)| *s == Stage::ReaderToken)
            .map(|(_, o)| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(reader, vec!["Secret"]);
        let west = stage_objects(&m, &m.clusters[1], render(Some("1.2.3.4"), true));
        let reader = west
            .iter()
            .filter(|(s, _)| *s == Stage::ReaderToken)
            .count();
        assert_eq!(reader, 4);
        // A cluster still read never loses its reader objects to pruning; one no longer read does.
        assert!(!universe(true).iter().any(|o| o["kind"] == "ClusterRole"));
        assert!(universe(false).iter().any(|o| o["kind"] == "ClusterRole"));
    }

    #[test]
    fn a_cluster_with_short_lived_tokens_keeps_its_anchor_not_a_token_secret() {
        let m = mesh(REMOTE);
        let secret = |anchor: bool| {
            let r = Render {
                reader_token: "istio-reader-service-account-istio-remote-secret-token-2",
                reader_ttl: anchor.then_some(600),
                ..render(Some("1.2.3.4"), false)
            };
            let west = stage_objects(&m, &m.clusters[1], r);
            west.into_iter()
                .find(|(s, o)| *s == Stage::ReaderToken && o["kind"] == "Secret")
                .unwrap()
                .1
        };
        let anchor = secret(true);
        assert_eq!(anchor["type"], "Opaque", "{anchor:#}");
        assert_eq!(
            anchor["metadata"]["name"],
            "istio-reader-service-account-istio-remote-secret-token-2"
        );
        assert_eq!(secret(false)["type"], "kubernetes.io/service-account-token");
    }
}
