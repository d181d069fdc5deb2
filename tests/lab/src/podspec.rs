//! What the lab's pod runner reads from and writes to a pod, as a kubelet would: the
//! container's environment, its listeners moved to loopback ports, the readiness status.
//! Pure functions of the pod object.

use serde_json::Value;

/// The ports of the istiod container, by the flag that sets each listener.
pub const LISTENERS: [(&str, u16); 5] = [
    ("--httpAddr", 8080),
    ("--grpcAddr", 15010),
    ("--secureGRPCAddr", 15012),
    ("--httpsAddr", 15017),
    ("--monitoringAddr", 15014),
];

/// A container's environment as the kubelet would set it: literal values and the field
/// references istiod uses (name, namespace, service account, node); resource references
/// (GOMAXPROCS, GOMEMLIMIT) are left unset, as without limits.
pub fn container_env(pod: &Value, container: &Value) -> Vec<(String, String)> {
    let field = |path: &str| -> Option<String> {
        let v = match path {
            "metadata.name" => &pod["metadata"]["name"],
            "metadata.namespace" => &pod["metadata"]["namespace"],
            "spec.serviceAccountName" => &pod["spec"]["serviceAccountName"],
            "spec.nodeName" => &pod["spec"]["nodeName"],
            "status.podIP" => &pod["status"]["podIP"],
            _ => return None,
        };
        v.as_str().map(str::to_string)
    };
    let mut out = Vec::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let value = match (&e["value"], &e["valueFrom"]["fieldRef"]["fieldPath"]) {
            (Value::String(v), _) => Some(v.clone()),
            (_, Value::String(path)) => field(path),
            (Value::Null, Value::Null) if e["valueFrom"].is_null() => Some(String::new()),
            _ => None,
        };
        if let Some(v) = value {
            out.push((name.to_string(), v));
        }
    }
    out
}

/// The container's command line with every listener moved to the given loopback ports
/// (later flags win), and the routes `POD_IP:PORT` → `127.0.0.1:LOCAL` for the proxy.
pub fn listen_locally(
    container: &Value,
    pod_ip: &str,
    local: &[u16],
) -> (Vec<String>, Vec<(String, String)>) {
    let mut args: Vec<String> = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let mut routes = Vec::new();
    for ((flag, port), l) in LISTENERS.iter().zip(local) {
        args.push(format!("{flag}=127.0.0.1:{l}"));
        routes.push((format!("{pod_ip}:{port}"), format!("127.0.0.1:{l}")));
    }
    args.push(format!("--ctrlz_port={}", local[LISTENERS.len()]));
    args.push("--ctrlz_address=127.0.0.1".into());
    (args, routes)
}

pub fn pod_key(pod: &Value) -> String {
    let m = &pod["metadata"];
    format!(
        "{}/{}",
        m["namespace"].as_str().unwrap_or_default(),
        m["name"].as_str().unwrap_or_default()
    )
}

pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// kwok's `PortForward` for a pod the lab runs: each of its listeners' pod ports to the
/// loopback port the lab moved it to (`local`, in [`LISTENERS`] order), owned by the pod so
/// that the garbage collector takes it with the pod. kwok, as the pod's kubelet, serves the
/// API server's port-forwards from it.
pub fn port_forward(pod: &Value, local: &[u16]) -> Value {
    let m = &pod["metadata"];
    let forwards: Vec<Value> = LISTENERS
        .iter()
        .zip(local)
        .map(|((_, port), l)| {
            serde_json::json!({"ports": [port], "target": {"address": "127.0.0.1", "port": l}})
        })
        .collect();
    serde_json::json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "PortForward",
        "metadata": {
            "name": m["name"],
            "namespace": m["namespace"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": m["name"], "uid": m["uid"]}],
        },
        "spec": {"forwards": forwards},
    })
}

/// The status patch a kubelet sends when a pod's readiness probe turns `ready`.
pub fn readiness_patch(pod: &Value, ready: bool, now: &str) -> Value {
    let status = if ready { "True" } else { "False" };
    let containers: Vec<Value> = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut c = c.clone();
            c["ready"] = Value::Bool(ready);
            c["started"] = Value::Bool(true);
            c
        })
        .collect();
    serde_json::json!({"status": {
        "conditions": [
            {"type": "Ready", "status": status, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": status, "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_as_the_kubelet_reports_it() {
        let pod = json!({"status": {"containerStatuses": [{"name": "discovery", "ready": false, "image": "pilot"}]}});
        let p = readiness_patch(&pod, true, "t");
        assert_eq!(
            p["status"]["conditions"][0],
            json!({"type": "Ready", "status": "True", "lastTransitionTime": "t"})
        );
        assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(p["status"]["containerStatuses"][0]["image"], "pilot");
        let p = readiness_patch(&pod, false, "t");
        assert_eq!(p["status"]["conditions"][1]["status"], "False");
        assert_eq!(p["status"]["containerStatuses"][0]["ready"], false);
    }

    #[test]
    fn each_listener_is_forwarded_to_its_loopback_port_and_goes_with_the_pod() {
        let pod =
            json!({"metadata": {"name": "istiod-abc", "namespace": "istio-system", "uid": "u-1"}});
        let pf = port_forward(&pod, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(pf["kind"], "PortForward");
        assert_eq!(pf["metadata"]["name"], "istiod-abc");
        assert_eq!(pf["metadata"]["ownerReferences"][0]["uid"], "u-1");
        let forwards = pf["spec"]["forwards"].as_array().unwrap();
        assert_eq!(forwards.len(), LISTENERS.len());
        let monitoring = json!({"ports": [15014], "target": {"address": "127.0.0.1", "port": 5}});
        assert!(forwards.contains(&monitoring), "{forwards:?}");
    }

    #[test]
    fn env_as_the_kubelet_sets_it() {
        let pod = json!({"metadata": {"name": "istiod-abc", "namespace": "istio-system"},
            "spec": {"serviceAccountName": "istiod"}});
        let c = json!({"env": [
            {"name": "REVISION", "value": "default"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "SERVICE_ACCOUNT", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "PLATFORM"}
        ]});
        let env = container_env(&pod, &c);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("REVISION"), Some("default"));
        assert_eq!(get("POD_NAME"), Some("istiod-abc"));
        assert_eq!(get("SERVICE_ACCOUNT"), Some("istiod"));
        assert_eq!(get("GOMAXPROCS"), None);
        assert_eq!(get("PLATFORM"), Some(""));
    }

    #[test]
    fn listeners_move_to_loopback_and_are_routed_from_the_pod_address() {
        let c =
            json!({"args": ["discovery", "--monitoringAddr=:15014", "--domain", "cluster.local"]});
        let (args, routes) = listen_locally(&c, "10.1.0.7", &[1, 2, 3, 4, 5, 6]);
        assert_eq!(args[0], "discovery");
        assert!(
            args.contains(&"--httpsAddr=127.0.0.1:4".to_string()),
            "{args:?}"
        );
        assert_eq!(args.last().unwrap(), "--ctrlz_address=127.0.0.1");
        // The pod's own --monitoringAddr comes first, ours after it wins.
        let mon = args
            .iter()
            .rposition(|a| a.starts_with("--monitoringAddr"))
            .unwrap();
        assert_eq!(args[mon], "--monitoringAddr=127.0.0.1:5");
        assert!(routes.contains(&("10.1.0.7:15017".into(), "127.0.0.1:4".into())));
        assert!(routes.contains(&("10.1.0.7:15012".into(), "127.0.0.1:3".into())));
    }
}
