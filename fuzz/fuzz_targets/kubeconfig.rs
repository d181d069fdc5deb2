//! Kubeconfigs we read from remote secrets are written by someone else: reading one must end
//! in a value or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = kube::config::Kubeconfig::from_yaml(text) {
            let source = mesh_core::kubeconfig::KubeconfigSource::from_config(config, "fuzz");
            for ctx in source.contexts() {
                let _ = source.server(&ctx);
            }
            let _ = source.resolve(&[]);
        }
    }
});
