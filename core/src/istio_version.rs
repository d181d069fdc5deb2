//! Istio versions as tools and images write them (`v1.30.3`, `1.31-dev`, `1.31.0-beta.1`):
//! parsed, and matched against a mesh file's `istio.version` (pure).

/// `MAJOR.MINOR[.PATCH]` of a version such as `v1.30.3`, `1.31-dev`, `1.31.0-beta.1` or
/// `v1.28-latest`; `None` when it does not start with two numbers.
pub fn parse(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((major, minor, patch))
}

/// True when a tool of version `tool` installs the mesh's `wanted` Istio version: the same
/// minor, and the same patch where both name one (`v1.31-latest` takes any 1.31; a dev
/// build such as `1.31-dev` names no patch).
pub fn fits(tool: &str, wanted: &str) -> bool {
    match (parse(tool), parse(wanted)) {
        (Some((a, b, p)), Some((x, y, q))) => {
            a == x && b == y && (p.is_none() || q.is_none() || p == q)
        }
        _ => false,
    }
}

/// The client version in `istioctl version --remote=false -o json` output.
pub fn istioctl_client_version(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["clientVersion"]["version"].as_str().map(String::from)
}

/// The chart version in a `Chart.yaml`.
pub fn chart_version(chart_yaml: &str) -> Option<String> {
    let v: serde_json::Value = yaml_serde::from_str(chart_yaml).ok()?;
    v["version"].as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_as_istio_and_its_builds_write_them() {
        assert_eq!(parse("v1.30.3"), Some((1, 30, Some(3))));
        assert_eq!(parse("1.31-dev"), Some((1, 31, None)));
        assert_eq!(parse("1.31.0-beta.1"), Some((1, 31, Some(0))));
        assert_eq!(parse("v1.28-latest"), Some((1, 28, None)));
        assert_eq!(
            parse("v0.0.0-20260827124520-eed52ebb66ad"),
            Some((0, 0, Some(0)))
        );
        assert_eq!(parse("unknown"), None);
        assert_eq!(parse("1"), None);
        assert_eq!(parse("1.x.3"), None);
    }

    #[test]
    fn a_tool_fits_the_same_minor_and_patch() {
        assert!(fits("1.30.3", "v1.30.3"));
        assert!(fits("1.31-dev", "v1.31-latest"));
        assert!(fits("1.31.2", "v1.31-latest"));
        assert!(fits("1.31-dev", "v1.31.0"));
        assert!(!fits("1.30.2", "v1.30.3"));
        assert!(!fits("1.31.0", "v1.30.3"));
        assert!(!fits("2.30.3", "v1.30.3"));
        // A build without a version stamp fits nothing.
        assert!(!fits("v0.0.0-20260827124520-eed52ebb66ad", "v1.31-latest"));
        assert!(!fits("", "v1.30.3"));
    }

    #[test]
    fn versions_are_found_in_the_tools_outputs() {
        let out = r#"{"clientVersion":{"version":"1.31-dev","revision":"unknown","golang_version":"go1.26.8","status":"Clean","tag":"lab"}}"#;
        assert_eq!(istioctl_client_version(out).as_deref(), Some("1.31-dev"));
        assert_eq!(istioctl_client_version("client version: 1.31"), None);
        let chart = "apiVersion: v2\nname: istiod\nversion: 1.31.0-dev\nappVersion: 1.31.0-dev\n";
        assert_eq!(chart_version(chart).as_deref(), Some("1.31.0-dev"));
        assert_eq!(chart_version("name: x\n"), None);
    }
}
