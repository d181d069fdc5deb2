//! Routing on the lab's pod network, across clusters: what cluster DNS, Service routing and
//! an east-west gateway do for the few connections the lab makes real.
//!
//! - Service names (`istiod.istio-system.svc:443`) resolve as cluster DNS and kube-proxy would:
//!   the Service's port to its target port on a ready endpoint of its EndpointSlices (for a
//!   selector-less Service, the endpoints its owner wrote, e.g. a remote's istiod pointing at
//!   its primary's gateway).
//! - Each cluster's runner publishes its routes in `LAB/pod-network/<cluster>.json`; a target
//!   not in the cluster's own table is looked up in the others' (load-balancer addresses are
//!   reachable from every cluster, as on one network).
//! - An east-west gateway's load-balancer address routes the istiod ports a Gateway in that
//!   cluster exposes (15012, 15017: what the expose-istiod Gateway and its TLS passthrough
//!   routes do) to that cluster's istiod. Nothing else is routed through a gateway: 15443
//!   (cross-network mTLS to workloads) needs Envoy, which the lab does not run.

use crate::api::Api;
use crate::netproxy::{Router, Routes};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The istiod ports an east-west gateway can expose.
pub const EXPOSED_ISTIOD_PORTS: [u16; 2] = [15012, 15017];

/// `name.namespace.svc[.cluster.local]:port` → (name, namespace, port).
pub fn service_target(target: &str) -> Option<(&str, &str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let host = host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))?;
    let (name, ns) = host.split_once('.')?;
    Some((name, ns, port.parse().ok()?))
}

/// The `ip:port` a Service port leads to: its target port (number, or the name of an
/// EndpointSlice port) on the first ready endpoint.
pub fn endpoint_of(service: &Value, slices: &[Value], port: u16) -> Option<String> {
    let sp = service["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| p["port"].as_u64() == Some(u64::from(port)))?;
    let name = sp["name"].as_str().unwrap_or_default();
    for slice in slices {
        let port = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str().unwrap_or_default() == name)
            .and_then(|p| p["port"].as_u64())
            .or_else(|| sp["targetPort"].as_u64());
        let ready = slice["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["conditions"]["ready"] != false);
        if let (Some(port), Some(e)) = (port, ready) {
            return Some(format!("{}:{port}", e["addresses"][0].as_str()?));
        }
    }
    None
}

fn resolve_service(k: &Api, target: &str) -> Option<String> {
    let (name, ns, port) = service_target(target)?;
    let service = k.get(&format!("/api/v1/namespaces/{ns}/services/{name}"))?;
    let slices = k.get(&format!(
        "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{name}"
    ))?;
    endpoint_of(&service, slices["items"].as_array()?, port)
}

/// The directory of the published route tables.
pub fn tables_dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join("pod-network")
}

/// Writes this cluster's routes for the other clusters' proxies.
pub fn publish(lab_dir: &Path, cluster: &str, table: &BTreeMap<String, String>) {
    let dir = tables_dir(lab_dir);
    let _ = std::fs::create_dir_all(&dir);
    let tmp = dir.join(format!(".{cluster}.json"));
    if std::fs::write(&tmp, serde_json::to_vec(table).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(tmp, dir.join(format!("{cluster}.json")));
    }
}

fn published(lab_dir: &Path, target: &str) -> Option<String> {
    let entries = std::fs::read_dir(tables_dir(lab_dir)).ok()?;
    entries.flatten().find_map(|e| {
        let text = std::fs::read(e.path()).ok()?;
        let table: BTreeMap<String, String> = serde_json::from_slice(&text).ok()?;
        table.get(target).cloned()
    })
}

/// The router of one cluster's proxy: Service names resolved in that cluster, then its own
/// table, then the tables the other clusters published.
pub fn router(k: Api, lab_dir: PathBuf, own: Routes) -> Router {
    Arc::new(move |target: &str| {
        let target = resolve_service(&k, target).unwrap_or_else(|| target.to_string());
        let local = own.lock().ok()?.get(&target).cloned();
        local.or_else(|| published(&lab_dir, &target))
    })
}

/// `inner`, plus the node's kubelet address (`127.0.0.1:PORT`, where kwok serves the kubelet
/// API) passed through as it is: the API server dials kubelets through the same proxy.
pub fn with_kubelet(inner: Router, kubelet: Option<String>) -> Router {
    Arc::new(move |target: &str| match &kubelet {
        Some(k) if k == target => Some(target.to_string()),
        _ => inner(target),
    })
}

/// Routes through this cluster's east-west gateway: each load-balancer address of
/// `istio-eastwestgateway`, for each istiod port a Gateway here exposes, to where `istiod`
/// (`POD_IP`) serves that port.
pub fn gateway_routes(
    k: &Api,
    own: &BTreeMap<String, String>,
    istiod_ip: &str,
) -> Vec<(String, String)> {
    let Some(svc) = k.get("/api/v1/namespaces/istio-system/services/istio-eastwestgateway") else {
        return Vec::new();
    };
    // Served as v1 since Istio 1.22; a mesh with older CRDs serves v1alpha3 only.
    let gateways = k
        .get_any(&[
            "/apis/networking.istio.io/v1/gateways",
            "/apis/networking.istio.io/v1alpha3/gateways",
        ])
        .unwrap_or_default();
    let exposed = exposed_ports(&gateways);
    let mut out = Vec::new();
    for ip in gateway_addresses(&svc) {
        for port in EXPOSED_ISTIOD_PORTS.iter().filter(|p| exposed.contains(p)) {
            if let Some(local) = own.get(&format!("{istiod_ip}:{port}")) {
                out.push((format!("{ip}:{port}"), local.clone()));
            }
        }
    }
    out
}

/// The addresses a gateway Service is reached at: its load-balancer ingress and its
/// `externalIPs` (what kube-proxy routes on a real node; the mesh file's `eastWestAddress`).
pub fn gateway_addresses(svc: &Value) -> Vec<String> {
    let ingress = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten();
    let external = svc["spec"]["externalIPs"].as_array().into_iter().flatten();
    ingress
        .map(|i| &i["ip"])
        .chain(external)
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The istiod ports the east-west gateway's Gateways expose (servers selecting
/// `istio: eastwestgateway`).
pub fn exposed_ports(gateways: &Value) -> Vec<u16> {
    let mut ports = Vec::new();
    for g in gateways["items"].as_array().into_iter().flatten() {
        if g["spec"]["selector"]["istio"] != "eastwestgateway" {
            continue;
        }
        for s in g["spec"]["servers"].as_array().into_iter().flatten() {
            if let Some(p) = s["port"]["number"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
            {
                ports.push(p);
            }
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_names_as_cluster_dns_has_them() {
        assert_eq!(
            service_target("istiod.istio-system.svc:443"),
            Some(("istiod", "istio-system", 443))
        );
        assert_eq!(
            service_target("istiod.istio-system.svc.cluster.local:15012"),
            Some(("istiod", "istio-system", 15012))
        );
        assert_eq!(service_target("10.1.1.1:15017"), None);
        assert_eq!(service_target("istiod:443"), None);
    }

    #[test]
    fn a_service_port_leads_to_a_ready_endpoint_on_its_target_port() {
        let svc = json!({"spec": {"ports": [{"name": "https-webhook", "port": 443, "targetPort": 15017}]}});
        let slices = vec![json!({"ports": [{"name": "https-webhook", "port": 15017}],
                   "endpoints": [{"addresses": ["10.1.1.9"], "conditions": {"ready": false}},
                                 {"addresses": ["10.1.1.1"], "conditions": {"ready": true}}]})];
        assert_eq!(
            endpoint_of(&svc, &slices, 443),
            Some("10.1.1.1:15017".into())
        );
        assert_eq!(endpoint_of(&svc, &slices, 80), None);
        assert_eq!(endpoint_of(&svc, &[], 443), None);
    }

    #[test]
    fn the_kubelet_address_is_passed_through_and_nothing_else_local() {
        let inner: Router =
            Arc::new(|t: &str| (t == "10.1.0.7:15014").then(|| "127.0.0.1:9".into()));
        let r = with_kubelet(inner.clone(), Some("127.0.0.1:4321".into()));
        assert_eq!(r("127.0.0.1:4321"), Some("127.0.0.1:4321".into()));
        assert_eq!(r("127.0.0.1:10250"), None);
        assert_eq!(r("10.1.0.7:15014"), Some("127.0.0.1:9".into()));
        assert_eq!(with_kubelet(inner, None)("127.0.0.1:4321"), None);
    }

    #[test]
    fn a_gateway_is_reached_at_its_load_balancer_and_external_addresses() {
        let svc = json!({"spec": {"externalIPs": ["192.0.2.1"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "198.18.1.1"}, {"hostname": "lb.example"}]}}});
        assert_eq!(gateway_addresses(&svc), vec!["198.18.1.1", "192.0.2.1"]);
        assert!(gateway_addresses(&json!({})).is_empty());
    }

    #[test]
    fn only_ports_a_gateway_of_the_east_west_gateway_exposes() {
        let gws = json!({"items": [
            {"spec": {"selector": {"istio": "eastwestgateway"}, "servers": [
                {"port": {"number": 15012}}, {"port": {"number": 15017}}]}},
            {"spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"port": {"number": 443}}]}},
        ]});
        assert_eq!(exposed_ports(&gws), vec![15012, 15017]);
        assert!(exposed_ports(&json!({"items": []})).is_empty());
    }
}
