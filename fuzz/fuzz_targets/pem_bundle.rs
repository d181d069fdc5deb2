//! The PEM bundle reader (certificates and keys from files the operator hands us) must return
//! an error naming the file for any input, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mesh_core::ca::pem;
use mesh_core::secret::Secret;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = Path::new("fuzz.pem");
        if let Ok(ders) = pem::certificates(path, text) {
            for der in ders {
                let _ = mesh_core::ca::describe::describe(&der, time::OffsetDateTime::UNIX_EPOCH);
            }
        }
        let _ = pem::private_key(path, &Secret::new(text.to_string()));
    }
});
