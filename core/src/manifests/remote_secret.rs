//! Remote access (reference §1): the reader ServiceAccount and its RBAC in the cluster being
//! read, the service-account-token Secret, and the remote secret istiod watches in the
//! reading cluster, with the kubeconfig shaped as `istioctl create-remote-secret` builds it.

use crate::kubeconfig_gate::Admitted;
use crate::labels::{
    CLUSTER_ANNOTATION, ISTIO_NAMESPACE, MULTICLUSTER_SECRET_LABEL, READER_SERVICE_ACCOUNT,
    REMOTE_SECRET_PREFIX,
};
use serde_json::{Value, json};

/// Name of the reader ClusterRole and its binding.
pub fn reader_role_name() -> String {
    format!("istio-reader-clusterrole-{ISTIO_NAMESPACE}")
}

/// The token Secret istioctl creates for the reader (`<sa>-istio-remote-secret-token`): the
/// one a join mints (generation 0).
pub fn token_secret_name() -> String {
    format!("{READER_SERVICE_ACCOUNT}-istio-remote-secret-token")
}

/// The token Secret of a generation: generation 0 is the join's ([`token_secret_name`]), a
/// rotation mints `<that>-<generation>`.
pub fn token_secret_name_of(generation: u32) -> String {
    match generation {
        0 => token_secret_name(),
        g => format!("{}-{g}", token_secret_name()),
    }
}

fn reader_labels() -> Value {
    json!({"app": "istio-reader", "app.kubernetes.io/name": "istio-reader"})
}

/// The reader ServiceAccount.
pub fn reader_service_account() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": READER_SERVICE_ACCOUNT, "namespace": ISTIO_NAMESPACE, "labels": reader_labels()},
    })
}

/// The reader ClusterRole (§1.5); `remote_profile` adds what a primary's istiod needs to manage
/// a remote (webhook patching, `istio-ca-root-cert` ConfigMaps).
pub fn reader_cluster_role(remote_profile: bool) -> Value {
    let read = json!(["get", "list", "watch"]);
    let mut rules = vec![
        json!({"apiGroups": ["config.istio.io", "security.istio.io", "networking.istio.io", "authentication.istio.io",
            "rbac.istio.io", "telemetry.istio.io", "extensions.istio.io"], "resources": ["*"], "verbs": read}),
        json!({"apiGroups": [""], "resources": ["endpoints", "pods", "services", "nodes", "replicationcontrollers",
            "namespaces", "secrets", "configmaps"], "verbs": read}),
        json!({"apiGroups": ["networking.istio.io"], "resources": ["workloadentries"], "verbs": read}),
        json!({"apiGroups": ["networking.x-k8s.io", "gateway.networking.k8s.io"], "resources": ["gateways"], "verbs": read}),
        json!({"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": read}),
        json!({"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read}),
        json!({"apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceexports"], "verbs": ["get", "list", "watch", "create", "delete"]}),
        json!({"apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceimports"], "verbs": read}),
        json!({"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": read}),
        json!({"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}),
        json!({"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}),
    ];
    if remote_profile {
        rules.push(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch", "update"]}));
        rules.push(json!({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"],
            "verbs": ["get", "list", "watch", "update", "patch"]}));
        rules.push(json!({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"],
            "verbs": ["get", "list", "watch", "update"]}));
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": reader_role_name(), "labels": reader_labels()},
        "rules": rules,
    })
}

/// Binds the reader ClusterRole to the reader ServiceAccount.
pub fn reader_binding() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": reader_role_name(), "labels": reader_labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader_role_name()},
        "subjects": [{"kind": "ServiceAccount", "name": READER_SERVICE_ACCOUNT, "namespace": ISTIO_NAMESPACE}],
    })
}

/// The long-lived token Secret `name` the controller manager fills with `token` and `ca.crt`.
pub fn token_secret(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": name, "namespace": ISTIO_NAMESPACE,
            "annotations": {"kubernetes.io/service-account.name": READER_SERVICE_ACCOUNT},
        },
    })
}

/// The anchor of short-lived reader tokens: an Opaque Secret (no token in it) that bound
/// tokens are minted against with the TokenRequest API. The API server accepts such a token
/// only while this Secret exists with the same UID, so deleting it revokes every token
/// minted against it.
pub fn anchor_secret(name: &str, ttl_seconds: u64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name, "namespace": ISTIO_NAMESPACE,
            "labels": {crate::labels::MANAGED_BY_LABEL: crate::labels::MANAGED_BY},
            "annotations": {
                "kubernetes.io/service-account.name": READER_SERVICE_ACCOUNT,
                crate::labels::TOKEN_TTL_ANNOTATION: ttl_seconds.to_string(),
            },
        },
    })
}

/// The reader objects of a cluster, in apply order, with the reader token Secret `token`
/// (with a `ttl`: the anchor of short-lived bound tokens instead, see [`anchor_secret`]).
pub fn reader_objects(remote_profile: bool, token: &str, ttl: Option<u64>) -> Vec<Value> {
    vec![
        reader_service_account(),
        reader_cluster_role(remote_profile),
        reader_binding(),
        match ttl {
            Some(t) => anchor_secret(token, t),
            None => token_secret(token),
        },
    ]
}

/// The kubeconfig inside a remote secret (§1.2): one cluster, context and user, all named
/// after the cluster, with the token Secret's CA and token.
pub fn kubeconfig(cluster: &str, server: &str, ca_b64: &str, token: &str) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_b64}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
        "preferences": {},
        "users": [{"name": cluster, "user": {"token": token}}],
    });
    yaml_serde::to_string(&config).unwrap_or_default()
}

/// Whether `existing` (a remote secret's kubeconfig that passed the gate for untrusted
/// kubeconfigs, e.g. written by `istioctl create-remote-secret`) reads the same cluster the same
/// way as ours would: the same server, CA and token in its current context, whatever its
/// layout. Then it is kept as it is.
pub fn same_access(existing: &Admitted, server: &str, ca_b64: &str, token: &str) -> bool {
    let a = existing;
    same_server(&a.server, server)
        && a.ca_b64.as_deref() == Some(ca_b64)
        && a.token() == Some(token)
        && !a.insecure
        && a.tls_server_name.is_none()
}

/// Whether two API server URLs are the same (a trailing `/` aside).
pub fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether a server URL points at the loopback interface or the unspecified address (unusable
/// from another cluster): `localhost`, `*.localhost`, `127.0.0.0/8`, `::1`, `0.0.0.0`, `::`,
/// with or without a port.
pub fn is_loopback(server: &str) -> bool {
    let authority = server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

/// The remote secret for `cluster`, to be created in the reading cluster's Istio namespace.
pub fn remote_secret(cluster: &str, kubeconfig: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": format!("{REMOTE_SECRET_PREFIX}{cluster}"),
            "namespace": ISTIO_NAMESPACE,
            "labels": {MULTICLUSTER_SECRET_LABEL: "true"},
            "annotations": {CLUSTER_ANNOTATION: cluster},
        },
        "stringData": {cluster: kubeconfig},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a join decides from a secret's text: through the gate, then compared.
    fn same(text: &str, server: &str, ca_b64: &str, token: &str) -> bool {
        crate::kubeconfig_gate::admit(text).is_ok_and(|a| same_access(&a, server, ca_b64, token))
    }

    #[test]
    fn loopback_servers_are_recognised() {
        for s in [
            "https://127.0.0.1:6443",
            "https://localhost:6443",
            "https://[::1]:443",
            "https://127.0.1.1",
            "https://[::1]",
            "https://[::1]/",
            "https://0.0.0.0:6443",
            "https://0.0.0.0",
            "https://[::]:6443",
            "https://LOCALHOST",
            "https://api.localhost:6443",
            "https://user@127.0.0.1:6443",
            "127.0.0.1:6443",
        ] {
            assert!(is_loopback(s), "{s}");
        }
        for s in [
            "https://10.0.0.1:6443",
            "https://api.example.com:6443",
            "https://172.18.0.2:6443",
            "https://[2001:db8::1]:6443",
            "https://[2001:db8::1]",
            "https://localhost.example.com",
            "https://127.example.com",
        ] {
            assert!(!is_loopback(s), "{s}");
        }
    }

    #[test]
    fn access_is_compared_by_meaning_not_by_bytes() {
        let ours = kubeconfig("west", "https://10.0.0.2:6443", "Q0E=", "tok");
        assert!(same(&ours, "https://10.0.0.2:6443/", "Q0E=", "tok"));
        // istioctl's layout: other order, flow style, the same meaning.
        let theirs = "apiVersion: v1\nclusters:\n- cluster: {certificate-authority-data: Q0E=, server: 'https://10.0.0.2:6443'}\n  name: west\ncontexts:\n- context: {cluster: west, user: west}\n  name: west\ncurrent-context: west\nkind: Config\npreferences: {}\nusers:\n- name: west\n  user: {token: tok}\n";
        assert!(same(theirs, "https://10.0.0.2:6443", "Q0E=", "tok"));
        for (server, ca, token) in [
            ("https://10.0.0.3:6443", "Q0E=", "tok"),
            ("https://10.0.0.2:6443", "Q0I=", "tok"),
            ("https://10.0.0.2:6443", "Q0E=", "old"),
        ] {
            assert!(!same(theirs, server, ca, token), "{server} {ca} {token}");
        }
        // A user with more than the token (an exec plugin, a client certificate) is not ours.
        let exec = theirs.replace("{token: tok}", "{token: tok, exec: {command: x}}");
        assert!(!same(&exec, "https://10.0.0.2:6443", "Q0E=", "tok"));
        assert!(!same("not: [yaml", "https://10.0.0.2:6443", "Q0E=", "tok"));
    }

    #[test]
    fn the_kubeconfig_is_shaped_like_istioctls() {
        let text = kubeconfig("west", "https://10.0.0.2:6443", "Q0E=", "tok");
        let v: serde_json::Value = yaml_serde::from_str(&text).unwrap();
        assert_eq!(v["current-context"], "west");
        assert_eq!(v["clusters"][0]["name"], "west");
        assert_eq!(v["contexts"][0]["context"]["user"], "west");
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        let secret = remote_secret("west", &text);
        assert_eq!(secret["metadata"]["name"], "istio-remote-secret-west");
        assert_eq!(secret["metadata"]["labels"]["istio/multiCluster"], "true");
        assert_eq!(
            secret["metadata"]["annotations"]["networking.istio.io/cluster"],
            "west"
        );
    }
}
