//! The gate field by field: each refused key is named by its path, each allowed one admitted,
//! and what is admitted builds a kubeconfig with nothing that runs or reads.

use super::*;

/// A kubeconfig as `istioctl create-remote-secret` writes it, with `cluster` and `user` bodies.
fn kc(cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: east\n\
         clusters:\n- name: east\n  cluster: {cluster}\n\
         contexts:\n- name: east\n  context: {{cluster: east, user: east}}\n\
         users:\n- name: east\n  user: {user}\n"
    )
}

const SERVER: &str = "{server: 'https://10.0.0.1:6443', certificate-authority-data: Q0E=}";

fn refused(text: &str) -> Refusal {
    match admit(text) {
        Err(r) => r,
        Ok(a) => panic!("admitted: {a:?}"),
    }
}

#[test]
fn an_istioctl_kubeconfig_is_admitted_with_its_token() {
    let a = admit(&kc(SERVER, "{token: tok-1}")).unwrap();
    assert_eq!(a.server, "https://10.0.0.1:6443");
    assert_eq!(a.ca_b64.as_deref(), Some("Q0E="));
    assert_eq!(a.token(), Some("tok-1"));
    assert!(!a.insecure);
    assert_eq!(a.context, "east");
    // Our own writer's output passes too.
    let ours = crate::manifests::remote_secret::kubeconfig("west", "https://w:6443", "Q0E=", "t");
    assert_eq!(admit(&ours).unwrap().token(), Some("t"));
}

#[test]
fn every_refused_user_key_is_named_by_its_path() {
    for (user, key) in [
        (
            "{exec: {command: /bin/sh, args: [-c, 'touch m'], apiVersion: client.authentication.k8s.io/v1}}",
            "exec",
        ),
        (
            "{auth-provider: {name: oidc, config: {cmd-path: /bin/sh}}}",
            "auth-provider",
        ),
        ("{tokenFile: /var/run/secrets/token}", "tokenFile"),
        (
            "{client-certificate: /etc/c.pem, client-key-data: Q0E=}",
            "client-certificate",
        ),
        (
            "{client-key: /etc/k.pem, client-certificate-data: Q0E=}",
            "client-key",
        ),
        ("{token: t, username: admin}", "username"),
        ("{token: t, password: hunter2}", "password"),
        ("{token: t, as: system:admin}", "as"),
        ("{token: t, as-groups: [system:masters]}", "as-groups"),
        ("{token: t, as-uid: '0'}", "as-uid"),
        ("{token: t, as-user-extra: {a: [b]}}", "as-user-extra"),
        ("{token: t, something-new: x}", "something-new"),
    ] {
        let r = refused(&kc(SERVER, user));
        let path = format!("users[0].user.{key}");
        assert!(r.0.iter().any(|f| f.path == path), "{key}: {r}");
        // Never a value in the message.
        let shown = r.to_string();
        for value in ["/bin/sh", "/var/run", "/etc/", "hunter2", "system:"] {
            assert!(!shown.contains(value), "{key}: {shown}");
        }
    }
}

#[test]
fn every_refused_cluster_key_is_named_by_its_path() {
    for (cluster, key) in [
        (
            "{server: 'https://a:6443', certificate-authority: /etc/ca.pem}",
            "certificate-authority",
        ),
        (
            "{server: 'https://a:6443', proxy-url: 'http://evil:3128'}",
            "proxy-url",
        ),
        (
            "{server: 'https://a:6443', disable-compression: true}",
            "disable-compression",
        ),
    ] {
        let r = refused(&kc(cluster, "{token: t}"));
        let path = format!("clusters[0].cluster.{key}");
        assert!(r.0.iter().any(|f| f.path == path), "{key}: {r}");
    }
}

#[test]
fn all_findings_are_reported_at_once() {
    let r = refused(&kc(
        "{server: 'https://a:6443', certificate-authority: /ca}",
        "{exec: {command: x}, tokenFile: /t}",
    ));
    let paths: Vec<&str> = r.0.iter().map(|f| f.path.as_str()).collect();
    assert!(
        paths.contains(&"clusters[0].cluster.certificate-authority"),
        "{paths:?}"
    );
    assert!(paths.contains(&"users[0].user.exec"), "{paths:?}");
    assert!(paths.contains(&"users[0].user.tokenFile"), "{paths:?}");
}

#[test]
fn more_than_one_entry_is_refused_even_when_the_current_context_is_clean() {
    let text = format!(
        "{}- name: other\n  user: {{exec: {{command: /bin/sh}}}}\n",
        kc(SERVER, "{token: t}")
    );
    let r = refused(&text);
    assert!(r.0.iter().any(|f| f.path == "users"), "{r}");
    // The unused entry's exec is named too.
    assert!(r.0.iter().any(|f| f.path == "users[1].user.exec"), "{r}");
}

#[test]
fn unknown_top_level_and_entry_keys_are_refused() {
    let r = refused(&format!("{}extra: 1\n", kc(SERVER, "{token: t}")));
    assert!(r.0.iter().any(|f| f.path == "extra"), "{r}");
}

#[test]
fn the_current_context_must_resolve() {
    let text = kc(SERVER, "{token: t}").replace("current-context: east", "current-context: nope");
    assert_eq!(refused(&text).0[0].path, "current-context");
    let text = kc(SERVER, "{token: t}").replace("{cluster: east,", "{cluster: gone,");
    assert_eq!(refused(&text).0[0].path, "contexts[0].context.cluster");
    let text = kc(SERVER, "{token: t}").replace("user: east}", "user: gone}");
    assert_eq!(refused(&text).0[0].path, "contexts[0].context.user");
}

#[test]
fn values_are_checked_for_form() {
    for (cluster, user, path) in [
        (
            "{server: 'http://a:6443'}",
            "{token: t}",
            "clusters[0].cluster.server",
        ),
        (
            "{certificate-authority-data: Q0E=}",
            "{token: t}",
            "clusters[0].cluster.server",
        ),
        (
            "{server: 'https://a', certificate-authority-data: '***'}",
            "{token: t}",
            "clusters[0].cluster.certificate-authority-data",
        ),
        (
            "{server: 'https://a', insecure-skip-tls-verify: 'yes'}",
            "{token: t}",
            "clusters[0].cluster.insecure-skip-tls-verify",
        ),
        (
            "{server: 'https://a'}",
            "{token: ''}",
            "users[0].user.token",
        ),
        (
            "{server: 'https://a'}",
            "{token: [a]}",
            "users[0].user.token",
        ),
        (
            "{server: 'https://a'}",
            "{token: t, client-certificate-data: Q0E=}",
            "users[0].user",
        ),
        (
            "{server: 'https://a'}",
            "{client-certificate-data: Q0E=}",
            "users[0].user.client-key-data",
        ),
        (
            "{server: 'https://a'}",
            "{client-key-data: Q0E=}",
            "users[0].user.client-certificate-data",
        ),
    ] {
        let r = refused(&kc(cluster, user));
        assert_eq!(r.0[0].path, path, "{cluster} {user}: {r}");
    }
    assert_eq!(refused("- a list").0[0].path, "(document)");
    assert_eq!(refused("{{{").0[0].path, "(document)");
}

#[test]
fn client_certificates_and_insecure_servers_are_admitted_as_istiod_admits_them() {
    let a = admit(&kc(
        "{server: 'https://a:6443', insecure-skip-tls-verify: true, tls-server-name: api.east}",
        "{client-certificate-data: Q0U=, client-key-data: S0VZ}",
    ))
    .unwrap();
    assert!(a.insecure);
    assert_eq!(a.tls_server_name.as_deref(), Some("api.east"));
    assert!(matches!(a.credential, Credential::ClientCertificate { .. }));
    assert_eq!(a.token(), None);
}

#[test]
fn the_built_kubeconfig_has_nothing_that_runs_or_reads() {
    for user in [
        "{token: t}",
        "{client-certificate-data: Q0U=, client-key-data: S0VZ}",
        "{}",
    ] {
        let k = admit(&kc(SERVER, user)).unwrap().to_kubeconfig();
        assert_eq!(k.auth_infos.len(), 1);
        let auth = k.auth_infos[0].auth_info.clone().unwrap();
        assert!(auth.exec.is_none() && auth.auth_provider.is_none());
        assert!(auth.token_file.is_none() && auth.client_certificate.is_none());
        assert!(auth.client_key.is_none() && auth.username.is_none() && auth.password.is_none());
        assert!(auth.impersonate.is_none() && auth.impersonate_groups.is_none());
        let cluster = k.clusters[0].cluster.clone().unwrap();
        assert!(cluster.certificate_authority.is_none() && cluster.proxy_url.is_none());
        assert_eq!(cluster.server.as_deref(), Some("https://10.0.0.1:6443"));
    }
    // Positive control: the same probe sees a token where one was given.
    let k = admit(&kc(SERVER, "{token: t}")).unwrap().to_kubeconfig();
    assert!(k.auth_infos[0].auth_info.clone().unwrap().token.is_some());
}

#[test]
fn debug_never_shows_the_token_or_key() {
    let a = admit(&kc(SERVER, "{token: sekrit-token-value}")).unwrap();
    let shown = format!("{a:?}");
    assert!(!shown.contains("sekrit-token-value"), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
    let a = admit(&kc(
        SERVER,
        "{client-certificate-data: Q0U=, client-key-data: S0VZS0VZ}",
    ))
    .unwrap();
    let shown = format!("{a:?}");
    assert!(!shown.contains("S0VZS0VZ"), "{shown}");
}
