//! Kubeconfigs we read from remote secrets are written by someone else: the gate must end in
//! an admitted kubeconfig or a refusal, never a panic, and what it admits must build a client
//! configuration with nothing that runs a program, reads a file or picks a proxy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mesh_core::kubeconfig_gate::admit;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match admit(text) {
        Ok(admitted) => {
            assert!(admitted.server.starts_with("https://"));
            let k = admitted.to_kubeconfig();
            assert_eq!((k.clusters.len(), k.auth_infos.len(), k.contexts.len()), (1, 1, 1));
            for a in k.auth_infos.iter().filter_map(|a| a.auth_info.as_ref()) {
                assert!(a.exec.is_none() && a.auth_provider.is_none() && a.token_file.is_none());
                assert!(a.client_certificate.is_none() && a.client_key.is_none());
                assert!(a.username.is_none() && a.password.is_none() && a.impersonate.is_none());
            }
            for c in k.clusters.iter().filter_map(|c| c.cluster.as_ref()) {
                assert!(c.certificate_authority.is_none() && c.proxy_url.is_none());
            }
        }
        Err(refusal) => assert!(!refusal.0.is_empty()),
    }
    // The user's own kubeconfig reader must not panic either.
    if let Ok(config) = kube::config::Kubeconfig::from_yaml(text) {
        let source = mesh_core::kubeconfig::KubeconfigSource::from_config(config, "fuzz");
        for ctx in source.contexts() {
            let _ = source.server(&ctx);
        }
        let _ = source.resolve(&[]);
    }
});
