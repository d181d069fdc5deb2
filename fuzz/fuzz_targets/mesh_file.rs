//! mesh.yaml parsing and validation must reject any malformed input with an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mesh) = mesh_core::mesh::MeshSpec::parse(text, std::path::Path::new("mesh.yaml")) {
            let _ = mesh.topology();
            for c in &mesh.clusters {
                let _ = mesh.remotes_of(&c.name);
            }
        }
    }
});
