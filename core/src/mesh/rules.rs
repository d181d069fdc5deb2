//! The rules every value of a mesh file obeys, checked when the file is read: each value that
//! becomes a Kubernetes name, label or annotation, a URL or an address is refused with its key
//! path and the rule, before any cluster is contacted.

use super::MeshSpec;
use crate::names::ClusterName;

/// A refused value: the key path (`clusters[1].network`) and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where, as a key path.
    pub key: String,
    /// The value and the rule.
    pub reason: String,
}

const LABEL_VALUE_RULE: &str = "a label value: at most 63 characters, letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

/// True for a valid Kubernetes label value (empty is refused: every value here is required).
pub fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    !v.is_empty()
        && v.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// True for an IP address or a DNS-1123 subdomain (what a load balancer reports).
pub fn is_address(v: &str) -> bool {
    if v.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !v.is_empty() && v.len() <= 253 && v.split('.').all(|l| ClusterName::parse(l).is_ok())
}

/// True for an `https://host[:port][/path]` URL.
pub fn is_api_server(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || authority.starts_with('[') => {
            if port.parse::<u16>().is_err() && !authority.starts_with('[') {
                return false;
            }
            h
        }
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty() && (is_address(host) || host.parse::<std::net::Ipv6Addr>().is_ok())
}

/// True for an Istio version the Sail operator names: `v1.28.1`, `v1.28.1-rc.0`, `v1.28-latest`.
pub fn is_istio_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (core, suffix) = match rest.split_once('-') {
        Some((c, s)) => (c, Some(s)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match (parts.len(), suffix) {
        (2, Some("latest")) => parts.iter().all(numeric),
        (3, None) => parts.iter().all(numeric),
        (3, Some(s)) => parts.iter().all(numeric) && is_label_value(s),
        _ => false,
    }
}

/// Every violation in `mesh`, in file order.
pub fn violations(mesh: &MeshSpec) -> Vec<Violation> {
    let multi_network = mesh.multi_network();
    let mut out = Vec::new();
    let mut refuse = |key: String, ok: bool, value: &str, rule: &str| {
        if !ok {
            out.push(Violation {
                key,
                reason: format!("{value:?} is not {rule}"),
            });
        }
    };
    refuse(
        "meshID".into(),
        is_label_value(&mesh.mesh_id),
        &mesh.mesh_id,
        LABEL_VALUE_RULE,
    );
    let v = mesh.istio.version();
    refuse(
        "istio.version".into(),
        is_istio_version(v),
        v,
        "an Istio version such as v1.28.1 or v1.28-latest",
    );
    if let Some(d) = &mesh.istio.cni_conf_dir {
        refuse(
            "istio.cniConfDir".into(),
            d.starts_with('/'),
            d,
            "an absolute path",
        );
    }
    for (i, c) in mesh.clusters.iter().enumerate() {
        let at = |k: &str| format!("clusters[{i}].{k}");
        if let Err(e) = ClusterName::parse(&c.name) {
            refuse(at("name"), false, &c.name, &format!("a cluster name ({e})"));
        }
        refuse(
            at("context"),
            !c.context.trim().is_empty(),
            &c.context,
            "a kubeconfig context name",
        );
        refuse(
            at("network"),
            is_label_value(&c.network),
            &c.network,
            LABEL_VALUE_RULE,
        );
        if let Some(a) = &c.east_west_address {
            refuse(
                at("eastWestAddress"),
                is_address(a),
                a,
                "an IP address or a DNS name",
            );
            // istiod learns another network's gateway from the east-west Service's
            // externalIPs or load balancer status: a name written nowhere it reads is refused.
            refuse(
                at("eastWestAddress"),
                !multi_network || !is_address(a) || a.parse::<std::net::IpAddr>().is_ok(),
                a,
                "an IP address: in a multi-network mesh istiod learns the gateway from the east-west Service's externalIPs, which take IPs only (leave it unset to use the load balancer's address or hostname)",
            );
        }
        if let Some(s) = &c.api_server {
            refuse(
                at("apiServer"),
                is_api_server(s),
                s,
                "an https:// URL of an API server",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_follow_kubernetes() {
        for ok in ["network1", "net_1.a-b", "N", &"a".repeat(63)] {
            assert!(is_label_value(ok), "{ok}");
        }
        for bad in [
            "",
            "net work",
            "-net",
            "net-",
            "net/1",
            &"a".repeat(64),
            "ünï",
        ] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }

    #[test]
    fn addresses_urls_and_versions() {
        assert!(
            is_address("192.0.2.1") && is_address("2001:db8::1") && is_address("lb.example.com")
        );
        assert!(!is_address("lb_example.com") && !is_address("") && !is_address("a..b"));
        assert!(is_api_server("https://10.0.0.1:6443") && is_api_server("https://api.example.com"));
        assert!(is_api_server("https://[2001:db8::1]:6443"));
        assert!(!is_api_server("http://10.0.0.1:6443") && !is_api_server("https://:6443"));
        assert!(!is_api_server("https://host:port"));
        assert!(
            is_istio_version("v1.28.1")
                && is_istio_version("v1.28-latest")
                && is_istio_version("v1.29.0-rc.1")
        );
        assert!(
            !is_istio_version("1.28.1")
                && !is_istio_version("v1.28")
                && !is_istio_version("latest")
        );
    }
}
