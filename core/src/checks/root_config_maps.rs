//! How a cluster's `istio-ca-root-cert` ConfigMaps compare with the roots of its `cacerts`:
//! read by the `trust.*` checks and by `mesh-certs status` and root rotation, which judge
//! the same ConfigMaps.

use crate::ca::describe::fingerprint;
use crate::labels::ROOT_CERT_CONFIGMAP;
use serde::Serialize;
use serde_json::Value;

/// How the `istio-ca-root-cert` ConfigMaps of a cluster compare with its `cacerts`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootConfigMaps {
    /// How many namespaces have one.
    pub total: usize,
    /// How many carry exactly the roots of `cacerts`.
    pub matching: usize,
    /// Namespaces whose ConfigMap differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatched: Vec<String>,
}

impl RootConfigMaps {
    /// Compares each `istio-ca-root-cert` ConfigMap's `root-cert.pem` with `roots` (fingerprints).
    pub fn compare(maps: &[Value], roots: &[String]) -> RootConfigMaps {
        let mut out = RootConfigMaps {
            total: maps.len(),
            matching: 0,
            mismatched: Vec::new(),
        };
        for cm in maps {
            let text = cm["data"]["root-cert.pem"].as_str().unwrap_or_default();
            let fps: Vec<String> =
                crate::ca::pem::certificates(std::path::Path::new(ROOT_CERT_CONFIGMAP), text)
                    .unwrap_or_default()
                    .iter()
                    .map(|d| fingerprint(d))
                    .collect();
            if !fps.is_empty() && fps == roots {
                out.matching += 1;
            } else {
                let ns = cm["metadata"]["namespace"].as_str().unwrap_or("?");
                out.mismatched.push(ns.to_string());
            }
        }
        out
    }
}
