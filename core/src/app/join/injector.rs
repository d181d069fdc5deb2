//! A remote installed by istioctl or Helm has no operator that reports it Ready: its injection
//! webhook points at the primary's istiod, whose CA bundle that istiod patches in once it reads
//! the remote secret (istiod with `EXTERNAL_ISTIOD`). A pod created before then (the east-west
//! gateway's) is refused by the API server or admitted without its proxy, so the gateways of
//! such a remote wait for the bundle, as a Sail remote waits for its Ready.

use serde_json::Value;

/// The injection webhook configuration of the default revision.
pub const INJECTOR: &str = "istio-sidecar-injector";

/// Why the injector does not serve yet, or `None` when every webhook of `config` (the
/// `MutatingWebhookConfiguration`) carries a CA bundle.
pub fn missing_ca_bundle(config: Option<&Value>) -> Option<String> {
    let Some(config) = config else {
        return Some(format!(
            "MutatingWebhookConfiguration {INJECTOR} does not exist (the control plane's charts make it)"
        ));
    };
    let hooks = config["webhooks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if hooks.is_empty() {
        return Some(format!(
            "MutatingWebhookConfiguration {INJECTOR} has no webhooks"
        ));
    }
    let bare: Vec<&str> = hooks
        .iter()
        .filter(|h| {
            h["clientConfig"]["caBundle"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        })
        .map(|h| h["name"].as_str().unwrap_or("?"))
        .collect();
    (!bare.is_empty()).then(|| {
        format!(
            "MutatingWebhookConfiguration {INJECTOR}: no CA bundle yet in {} (the primary's istiod patches it in once it reads this cluster's remote secret)",
            bare.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_injector_serves_only_when_every_webhook_has_a_ca_bundle() {
        let hook = |name: &str, ca: Option<&str>| {
            let mut h =
                json!({"name": name, "clientConfig": {"url": "https://192.0.2.1:15017/inject"}});
            if let Some(ca) = ca {
                h["clientConfig"]["caBundle"] = json!(ca);
            }
            h
        };
        let all = json!({"webhooks": [hook("rev.namespace.sidecar-injector.istio.io", Some("LS0t")), hook("rev.object.sidecar-injector.istio.io", Some("LS0t"))]});
        assert_eq!(missing_ca_bundle(Some(&all)), None);
        let one_bare = json!({"webhooks": [hook("rev.namespace.sidecar-injector.istio.io", Some("LS0t")), hook("rev.object.sidecar-injector.istio.io", Some(""))]});
        let why = missing_ca_bundle(Some(&one_bare)).unwrap_or_default();
        assert!(
            why.contains("no CA bundle yet in rev.object.sidecar-injector.istio.io"),
            "{why}"
        );
        assert!(!why.contains("rev.namespace"), "{why}");
        let absent = json!({"webhooks": [hook("a", None)]});
        assert!(missing_ca_bundle(Some(&absent)).is_some());
        assert!(missing_ca_bundle(Some(&json!({}))).is_some());
        let none = missing_ca_bundle(None).unwrap_or_default();
        assert!(none.contains("does not exist"), "{none}");
    }
}
