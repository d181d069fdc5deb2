//! Typed, deterministic builders of every object kubectl-mesh creates.
//!
//! Each builder takes plain data and returns manifests as JSON values (`apiVersion`, `kind`,
//! `metadata`, …) ready for server-side apply or for `-o yaml`. The same input gives
//! byte-identical output, so plans, snapshots and GitOps exports are stable.

pub mod cacerts;
pub mod gateway;
pub mod istio;
pub mod remote_secret;

use serde_json::Value;

/// A Secret with `stringData` turned into `data`, as the API server stores it (so a second
/// run compares equal).
pub fn as_data(mut secret: Value) -> Value {
    use base64::Engine as _;
    if let Some(Value::Object(sd)) = secret.as_object_mut().and_then(|o| o.remove("stringData")) {
        let data: serde_json::Map<String, Value> = sd
            .into_iter()
            .map(|(k, v)| {
                let b = base64::engine::general_purpose::STANDARD
                    .encode(v.as_str().unwrap_or_default());
                (k, Value::String(b))
            })
            .collect();
        secret["data"] = Value::Object(data);
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_becomes_base64_data() {
        let s = as_data(json!({"kind": "Secret", "stringData": {"k": "v"}}));
        assert_eq!(s["data"]["k"], "dg==");
        assert!(s.get("stringData").is_none());
    }
}
