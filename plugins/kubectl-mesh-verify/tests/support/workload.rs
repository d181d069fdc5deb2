//! A Service's workload as the lab shows it: the lab runs no kubelet and no node, so the pod's
//! status (Running, Ready, an IP) and the EndpointSlice of the Service are written the way the
//! kubelet and the EndpointSlice controller write them.

use super::{apply, patch_status};
use serde_json::json;

/// helloworld in `ctx`: Service, a Ready pod at `ip` and the EndpointSlice of that pod.
pub fn helloworld(lab: &mesh_lab::Lab, ctx: &str, ip: &str) {
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sample"}}),
    );
    service(lab, ctx);
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "helloworld-1", "namespace": "sample", "labels": {"app": "helloworld"}},
            "spec": {"containers": [{"name": "helloworld", "image": "docker.io/istio/examples-helloworld-v1:1.0"}]}}),
    );
    let t = "2026-01-01T00:00:00Z";
    patch_status(
        lab,
        ctx,
        &["pod", "helloworld-1", "-n", "sample"],
        &json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}]}),
    );
    slice(lab, ctx, ip);
}

pub fn service(lab: &mesh_lab::Lab, ctx: &str) {
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "helloworld", "namespace": "sample", "labels": {"app": "helloworld"}},
            "spec": {"selector": {"app": "helloworld"}, "ports": [{"name": "http", "port": 5000}]}}),
    );
}

pub fn slice(lab: &mesh_lab::Lab, ctx: &str, ip: &str) {
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "helloworld-1", "namespace": "sample",
                "labels": {"kubernetes.io/service-name": "helloworld"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 5000, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": true},
                "targetRef": {"kind": "Pod", "name": "helloworld-1", "namespace": "sample"}}]}),
    );
}
