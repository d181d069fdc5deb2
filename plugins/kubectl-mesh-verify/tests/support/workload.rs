//! helloworld as a real workload: a Deployment whose pod the scheduler binds to a kwok node and
//! kwok runs (Running, Ready, an address from the node's range), behind a Service whose
//! EndpointSlice the controller manager writes. Nothing here writes a status or a slice.

use super::{apply, kubectl};
use serde_json::json;
use std::time::{Duration, Instant};

/// helloworld in `ctx` (namespace `sample`): Service and Deployment, once its endpoint is ready.
pub fn helloworld(lab: &mesh_lab::Lab, ctx: &str) {
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sample"}}),
    );
    service(lab, ctx);
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "helloworld", "namespace": "sample", "labels": {"app": "helloworld"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "helloworld"}},
                "template": {"metadata": {"labels": {"app": "helloworld"}},
                    "spec": {"containers": [{"name": "helloworld",
                        "image": "docker.io/istio/examples-helloworld-v1:1.0",
                        "ports": [{"containerPort": 5000}]}]}}}}),
    );
    ready_endpoint(lab, ctx);
}

/// The Service (its EndpointSlice follows from the controller manager).
pub fn service(lab: &mesh_lab::Lab, ctx: &str) {
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "helloworld", "namespace": "sample", "labels": {"app": "helloworld"}},
            "spec": {"selector": {"app": "helloworld"}, "ports": [{"name": "http", "port": 5000}]}}),
    );
}

/// Waits until the controller manager's EndpointSlice of helloworld holds a ready address.
pub fn ready_endpoint(lab: &mesh_lab::Lab, ctx: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let args = [
        "get",
        "endpointslices",
        "-n",
        "sample",
        "-l",
        "kubernetes.io/service-name=helloworld",
        "-o",
        "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}",
    ];
    loop {
        let ip = kubectl(lab, ctx, &args).trim().to_string();
        if !ip.is_empty() {
            return ip;
        }
        assert!(
            Instant::now() < deadline,
            "{ctx}: no ready helloworld endpoint"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
