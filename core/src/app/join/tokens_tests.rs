//! The reader credential a join embeds, decided against fake clusters.

use super::*;
use crate::app::join::test_support::{MULTI_NETWORK, block_on, mesh, options};
use crate::cluster::fake::FakeCluster;
use crate::labels::TOKEN_TTL_ANNOTATION;
use crate::manifests::{as_data, remote_secret};
use serde_json::json;

/// A source cluster whose reader has short-lived tokens of 600 s bound to the join's anchor.
fn short_lived_source() -> FakeCluster {
    let west = FakeCluster::new("ctx-west");
    west.insert(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
    );
    west.insert(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": READER_SERVICE_ACCOUNT, "namespace": ISTIO_NAMESPACE}}));
    west.insert(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": remote_secret::token_secret_name(), "namespace": ISTIO_NAMESPACE,
            "annotations": {TOKEN_TTL_ANNOTATION: "600"}}}),
    );
    west.insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": ISTIO_NAMESPACE},
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}));
    west
}

#[test]
fn a_short_lived_token_is_minted_only_when_waited_for_and_reused_while_fresh() {
    let west = short_lived_source();
    let east = FakeCluster::new("ctx-east");
    let none = block_on(credential(&west, "west", &[&east], false)).unwrap();
    assert_eq!(none, None);
    assert!(west.writes().is_empty(), "{:?}", west.written());
    // Positive control: waited for, a token is requested (and bound to the anchor).
    let (ca, token) = block_on(credential(&west, "west", &[&east], true))
        .unwrap()
        .unwrap();
    assert_eq!(
        west.written(),
        ["token ServiceAccount istio-system/istio-reader-service-account"]
    );
    let anchor = remote_secret::token_secret_name();
    assert_eq!(bound::binding(&token).map(|(n, _)| n), Some(anchor));
    // east's remote secret holds it now: a second join reuses it and requests nothing.
    let kubeconfig = remote_secret::kubeconfig("west", "https://west.example:6443", &ca, &token);
    east.insert(as_data(remote_secret::remote_secret("west", &kubeconfig)));
    west.clear_writes();
    let again = block_on(credential(&west, "west", &[&east], true)).unwrap();
    assert_eq!(again, Some((ca, token)));
    assert!(west.writes().is_empty(), "{:?}", west.written());
}

#[test]
fn a_long_lived_token_is_read_once_filled() {
    use base64::Engine as _;
    let west = FakeCluster::new("ctx-west");
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": remote_secret::token_secret_name(), "namespace": ISTIO_NAMESPACE}});
    west.insert(secret.clone());
    assert_eq!(
        block_on(credential(&west, "west", &[], false)).unwrap(),
        None
    );
    let token = base64::engine::general_purpose::STANDARD.encode("tok");
    secret["data"] = json!({"ca.crt": "Q0E=", "token": token});
    west.insert(secret);
    let got = block_on(credential(&west, "west", &[], false)).unwrap();
    assert_eq!(got, Some(("Q0E=".to_string(), "tok".to_string())));
}

#[test]
fn token_ttl_is_refused_on_a_cluster_with_a_long_lived_credential() {
    let mut opts = options(mesh(MULTI_NETWORK));
    opts.token_ttl = Some(600);
    let c = opts.mesh.cluster("west").unwrap().clone();
    // No credential yet: short-lived tokens start.
    let fresh = FakeCluster::new("ctx-west");
    let (_, ttl) = block_on(reader_mode(&opts, &c, &fresh)).unwrap();
    assert_eq!(ttl, Some(600));
    let joined = FakeCluster::new("ctx-west");
    joined.insert(json!({"apiVersion": "v1", "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": remote_secret::token_secret_name(), "namespace": ISTIO_NAMESPACE}}));
    let e = block_on(reader_mode(&opts, &c, &joined))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--token-ttl: cluster 'west' (context ctx-west)")
            && e.contains("a long-lived reader token"),
        "{e}"
    );
}
