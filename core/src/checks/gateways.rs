//! Istio `Gateway`s compared with what the topology needs: servers (port, TLS mode, hosts) and
//! a selector that picks the east-west gateway's pods (or, with no pods yet, the labels the
//! east-west Service selects). Pure: JSON in, a list of problem kinds out.

use serde_json::Value;

/// One server a `Gateway` must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ServerWant {
    /// `port.number`.
    pub port: u16,
    /// `tls.mode`.
    pub tls_mode: &'static str,
    /// A host the server must list.
    pub host: &'static str,
}

/// The cross-network Gateway (reference §4.2).
pub(super) const CROSS_NETWORK: &[ServerWant] = &[ServerWant {
    port: 15443,
    tls_mode: "AUTO_PASSTHROUGH",
    host: "*.local",
}];

/// The Gateway exposing istiod (reference §4.3).
pub(super) const EXPOSE_ISTIOD: &[ServerWant] = &[
    ServerWant {
        port: 15012,
        tls_mode: "PASSTHROUGH",
        host: "*",
    },
    ServerWant {
        port: 15017,
        tls_mode: "PASSTHROUGH",
        host: "*",
    },
];

/// What is wrong with a Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum GatewayProblem {
    /// No Gateway of that name.
    Missing,
    /// The Gateway exists, its VirtualService does not.
    VirtualServiceMissing,
    /// The VirtualService was not read: the mesh file gives this cluster no remotes, yet its
    /// `Istio` expects some (`EXTERNAL_ISTIOD`).
    VirtualServiceNotRead,
    /// No server on this port.
    NoServer { port: u16 },
    /// The server's TLS mode is another one (or none).
    TlsMode {
        port: u16,
        found: Option<String>,
        want: &'static str,
    },
    /// The server does not list the host.
    Hosts {
        port: u16,
        found: Vec<String>,
        want: &'static str,
    },
    /// No selector: it would apply to every gateway.
    NoSelector,
    /// The selector picks none of the east-west gateway's pods (or Service selector).
    SelectorMismatch { selector: String, against: String },
}

impl GatewayProblem {
    /// One phrase for a message.
    pub(super) fn describe(&self) -> String {
        match self {
            GatewayProblem::Missing => "it does not exist".into(),
            GatewayProblem::VirtualServiceMissing => "the VirtualService does not exist".into(),
            GatewayProblem::VirtualServiceNotRead => "Istio/default sets EXTERNAL_ISTIOD but the mesh file gives this cluster no remotes (its VirtualService was not read): name its remotes in the mesh file".into(),
            GatewayProblem::NoServer { port } => format!("no server on port {port}"),
            GatewayProblem::TlsMode { port, found, want } => format!(
                "the server on {port} has TLS mode {} instead of {want}",
                found.as_deref().unwrap_or("<none>")
            ),
            GatewayProblem::Hosts { port, found, want } => format!(
                "the server on {port} lists hosts [{}], not {want}",
                found.join(", ")
            ),
            GatewayProblem::NoSelector => "it has no selector".into(),
            GatewayProblem::SelectorMismatch { selector, against } => {
                format!("its selector {selector} matches none of {against}")
            }
        }
    }
}

/// The labels a Gateway's selector must match: the east-west gateway pods' labels, or the
/// east-west Service's selector while no pod exists. `None` when neither is known.
pub(super) fn targets(pods: &[&Value], service: Option<&Value>) -> Option<(Vec<Value>, String)> {
    if !pods.is_empty() {
        let labels = pods
            .iter()
            .map(|p| p["metadata"]["labels"].clone())
            .collect();
        return Some((
            labels,
            format!("the {} east-west gateway pod(s)' labels", pods.len()),
        ));
    }
    let selector = service?["spec"]["selector"].clone();
    selector.is_object().then(|| {
        (
            vec![selector],
            "the east-west Service's selector (no gateway pod yet)".into(),
        )
    })
}

fn selector_matches(selector: &serde_json::Map<String, Value>, labels: &Value) -> bool {
    selector.iter().all(|(k, v)| labels[k] == *v)
}

/// Compares `gateway` with the servers `want` and the selector `targets`.
pub(super) fn compare(
    gateway: Option<&Value>,
    want: &[ServerWant],
    targets: Option<&(Vec<Value>, String)>,
) -> Vec<GatewayProblem> {
    let Some(gw) = gateway else {
        return vec![GatewayProblem::Missing];
    };
    let servers = gw["spec"]["servers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    for w in want {
        let Some(s) = servers
            .iter()
            .find(|s| s["port"]["number"].as_u64() == Some(u64::from(w.port)))
        else {
            problems.push(GatewayProblem::NoServer { port: w.port });
            continue;
        };
        let mode = s["tls"]["mode"].as_str();
        if mode != Some(w.tls_mode) {
            problems.push(GatewayProblem::TlsMode {
                port: w.port,
                found: mode.map(String::from),
                want: w.tls_mode,
            });
        }
        let hosts: Vec<String> = s["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str().map(String::from))
            .collect();
        if !hosts.iter().any(|h| h == w.host) {
            problems.push(GatewayProblem::Hosts {
                port: w.port,
                found: hosts,
                want: w.host,
            });
        }
    }
    match gw["spec"]["selector"].as_object() {
        Some(sel) if !sel.is_empty() => {
            if let Some((labels, against)) = targets
                && !labels.iter().any(|l| selector_matches(sel, l))
            {
                problems.push(GatewayProblem::SelectorMismatch {
                    selector: Value::Object(sel.clone()).to_string(),
                    against: against.clone(),
                });
            }
        }
        _ => problems.push(GatewayProblem::NoSelector),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::gateway as manifests;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn the_gateways_mesh_join_writes_pass() {
        let p = pod(json!({"istio": "eastwestgateway", "app": "istio-eastwestgateway"}));
        let t = targets(&[&p], None);
        let cross = manifests::cross_network_gateway();
        assert_eq!(compare(Some(&cross), CROSS_NETWORK, t.as_ref()), vec![]);
        let expose = &manifests::expose_istiod()[0];
        assert_eq!(compare(Some(expose), EXPOSE_ISTIOD, t.as_ref()), vec![]);
    }

    #[test]
    fn each_wrong_field_is_its_own_problem() {
        let t = targets(
            &[],
            Some(&json!({"spec": {"selector": {"istio": "eastwestgateway"}}})),
        );
        assert!(t.as_ref().unwrap().1.contains("Service"));
        assert_eq!(
            compare(None, CROSS_NETWORK, t.as_ref()),
            vec![GatewayProblem::Missing]
        );
        let wrong = json!({"spec": {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": 15443}, "tls": {"mode": "ISTIO_MUTUAL"}, "hosts": ["*.example"]}]}});
        let got = compare(Some(&wrong), CROSS_NETWORK, t.as_ref());
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(
            got[0],
            GatewayProblem::TlsMode { port: 15443, .. }
        ));
        assert!(matches!(got[1], GatewayProblem::Hosts { port: 15443, .. }));
        assert!(matches!(got[2], GatewayProblem::SelectorMismatch { .. }));
        let half = json!({"spec": {"selector": {"istio": "eastwestgateway"}, "servers": [
            {"port": {"number": 15012}, "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]}]}});
        assert_eq!(
            compare(Some(&half), EXPOSE_ISTIOD, t.as_ref()),
            vec![GatewayProblem::NoServer { port: 15017 }]
        );
        let open = json!({"spec": {"servers": []}});
        assert!(compare(Some(&open), &[], None).contains(&GatewayProblem::NoSelector));
    }

    #[test]
    fn pods_win_over_the_service_selector() {
        let p = pod(json!({"istio": "other"}));
        let svc = json!({"spec": {"selector": {"istio": "eastwestgateway"}}});
        let t = targets(&[&p], Some(&svc));
        let cross = manifests::cross_network_gateway();
        let got = compare(Some(&cross), CROSS_NETWORK, t.as_ref());
        assert!(
            matches!(&got[..], [GatewayProblem::SelectorMismatch { against, .. }] if against.contains("pod"))
        );
        assert_eq!(targets(&[], None), None);
    }
}
