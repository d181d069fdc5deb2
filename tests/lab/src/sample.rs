//! helloworld as a real workload for tests: a Deployment whose pod the scheduler binds to a
//! kwok node and kwok runs (Running, Ready, an address from the node's range), behind a
//! Service whose EndpointSlice the controller manager writes. Nothing here writes a status or
//! a slice. Test helpers: they panic, naming what failed.
#![allow(clippy::expect_used, clippy::panic)]

use crate::Lab;
use crate::testing::apply;
use serde_json::json;
use std::time::{Duration, Instant};

/// The namespace helloworld runs in.
pub const NAMESPACE: &str = "sample";

/// helloworld in `ctx` (namespace `sample`): Service and Deployment, once its endpoint is ready.
pub fn helloworld(lab: &Lab, ctx: &str) {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    apply(lab, ctx, &ns);
    service(lab, ctx);
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "helloworld", "namespace": NAMESPACE, "labels": {"app": "helloworld"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "helloworld"}},
                "template": {"metadata": {"labels": {"app": "helloworld"}},
                    "spec": {"containers": [{"name": "helloworld",
                        "image": "docker.io/istio/examples-helloworld-v1:1.0",
                        "ports": [{"containerPort": 5000}]}]}}}}),
    );
    ready_endpoint(lab, ctx);
}

/// helloworld's Service (its EndpointSlice follows from the controller manager).
pub fn service(lab: &Lab, ctx: &str) {
    apply(
        lab,
        ctx,
        &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "helloworld", "namespace": NAMESPACE, "labels": {"app": "helloworld"}},
            "spec": {"selector": {"app": "helloworld"}, "ports": [{"name": "http", "port": 5000}]}}),
    );
}

/// Waits until the controller manager's EndpointSlice of helloworld holds a ready address.
pub fn ready_endpoint(lab: &Lab, ctx: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let jsonpath = "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}";
    let selector = "kubernetes.io/service-name=helloworld";
    loop {
        let o = lab
            .kubectl(ctx)
            .args(["get", "endpointslices", "-n", NAMESPACE, "-l", selector])
            .args(["-o", jsonpath])
            .output()
            .expect("kubectl");
        let ip = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !ip.is_empty() {
            return ip;
        }
        assert!(
            Instant::now() < deadline,
            "{ctx}: no ready helloworld endpoint"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Deletes helloworld's namespace and waits until it is gone.
pub fn remove(lab: &Lab, ctx: &str) {
    let o = lab
        .kubectl(ctx)
        .args([
            "delete",
            "namespace",
            NAMESPACE,
            "--wait=true",
            "--timeout=90s",
        ])
        .output()
        .expect("kubectl");
    assert!(
        o.status.success(),
        "{ctx}: deleting {NAMESPACE}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
