#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn in_cluster_config_points_at_the_service_and_the_mounted_credentials() {
    let c = in_cluster_config("10.96.0.1", "443", Path::new("/sa"));
    let source = KubeconfigSource::from_config(c, "pod");
    assert_eq!(source.contexts(), vec![IN_CLUSTER_CONTEXT.to_string()]);
    assert_eq!(
        source.resolve(&[]).unwrap(),
        vec![IN_CLUSTER_CONTEXT.to_string()]
    );
    assert_eq!(
        source.server(IN_CLUSTER_CONTEXT).as_deref(),
        Some("https://10.96.0.1:443")
    );
    let user = source.config.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(user.token_file.as_deref(), Some("/sa/token"));
    assert!(
        user.token.is_none(),
        "the token is read from its file, never copied"
    );
    let cluster = source.config.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.certificate_authority.as_deref(), Some("/sa/ca.crt"));
}

#[test]
fn an_ipv6_service_host_is_bracketed() {
    let c = in_cluster_config("fd00::1", "6443", Path::new("/sa"));
    let source = KubeconfigSource::from_config(c, "pod");
    assert_eq!(
        source.server(IN_CLUSTER_CONTEXT).as_deref(),
        Some("https://[fd00::1]:6443")
    );
}
