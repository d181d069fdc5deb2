//! Pre-join checks: can a join work on these clusters?

use super::{CheckId, CheckResult, ClusterFacts, Emit, Member};
use crate::mesh::{DEFAULT_ISTIO_VERSION, IstioSpec};

pub(super) fn evaluate(
    members: &[Member],
    facts: &[ClusterFacts],
    istio: Option<&IstioSpec>,
    out: &mut Vec<CheckResult>,
) {
    for f in facts {
        cluster(members, f, istio, out);
    }
    let names = Emit::new(CheckId::PreUniqueNames);
    let mut dup = Vec::new();
    for (i, m) in members.iter().enumerate() {
        if members[..i].iter().any(|o| o.name == m.name) {
            dup.push(format!("cluster name {}", m.name));
        }
        if members[..i].iter().any(|o| o.context == m.context) {
            dup.push(format!("context {}", m.context));
        }
    }
    out.push(if dup.is_empty() {
        names.pass(
            None,
            format!("{} clusters, names and contexts unique", members.len()),
        )
    } else {
        names.problem(
            None,
            format!("used twice: {}", dup.join(", ")),
            "give every cluster its own name and context",
        )
    });
}

/// The oldest Kubernetes minor an Istio minor supports (istioctl's `k8sversion` table: 1.28 →
/// 1.29, 1.29 → 1.30, 1.30 → 1.32; later minors are held to 1.30's floor until known).
pub(super) fn kubernetes_floor(istio_version: &str) -> u32 {
    let minor = istio_version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(28);
    match minor {
        0..=27 => 28,
        28 => 29,
        29 => 30,
        _ => 32,
    }
}

/// Whether the mesh writes the CNI configuration where Multus reads it.
fn needs_multus(istio: Option<&IstioSpec>) -> bool {
    istio.is_some_and(|i| {
        i.cni
            && i.cni_conf_dir
                .as_deref()
                .is_some_and(|d| d.contains("multus"))
    })
}

/// The per-cluster pre-join checks.
fn cluster(
    members: &[Member],
    f: &ClusterFacts,
    istio: Option<&IstioSpec>,
    out: &mut Vec<CheckResult>,
) {
    let reach = Emit::new(CheckId::PreReachable);
    let version = Emit::new(CheckId::PreKubernetesVersion);
    let sail = Emit::new(CheckId::PreSailCrds);
    let multus = Emit::new(CheckId::PreMultus);
    let perms = Emit::new(CheckId::PrePermissions);
    let c = Some(f.name.as_str());
    if f.version.is_empty() {
        let cause = f
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.request, e.cause));
        out.push(reach.problem(
            c,
            format!(
                "context {}: {}",
                f.context,
                cause.unwrap_or_else(|| "no version read".into())
            ),
            &format!(
                "check the API server: kubectl --context {} get --raw /readyz",
                f.context
            ),
        ));
        return;
    }
    out.push(reach.pass(c, format!("{} answers ({})", f.context, f.version)));
    let facts = Emit::new(CheckId::ClusterFacts);
    if let Some(e) = &f.error {
        out.push(facts.problem(c, super::facts::unread_message(f, e), &e.hint));
        return;
    }
    out.push(facts.pass(c, format!("context {}: every fact read", f.context)));
    let minor: Option<u32> = f
        .version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.trim_end_matches('+').parse().ok());
    let istio_version = istio.map_or(DEFAULT_ISTIO_VERSION, |i| i.version());
    let floor = kubernetes_floor(istio_version);
    match minor {
        Some(m) if m >= floor => out.push(version.pass(
            c,
            format!("Kubernetes {} (Istio {istio_version} needs 1.{floor} or later)", f.version),
        )),
        Some(_) => out.push(version.problem(
            c,
            format!("Kubernetes {} is older than Istio {istio_version} supports (1.{floor})", f.version),
            &format!("upgrade the cluster to 1.{floor} or later, or choose an older Istio version in the mesh file"),
        )),
        None => out.push(version.warn(c, format!("cannot read the version {}", f.version), "")),
    }
    let api = f.istio_api.as_deref().unwrap_or_default();
    if f.istio_api.is_some()
        && !f.istio_versions.is_empty()
        && !f.istio_versions.iter().any(|v| v == istio_version)
    {
        // The API server would refuse the Istio resource: a failure, not a warning.
        out.push(sail.fail(
            c,
            format!("the Sail operator here does not install Istio {istio_version} (it installs {})", f.istio_versions.join(", ")),
            "choose one of those versions as istio.version in the mesh file, or upgrade the Sail operator",
        ));
    } else if f.istio_api.is_some() {
        let accepts = match f.istio_versions.is_empty() {
            true => "its schema names no versions to compare with".to_string(),
            false => format!("it accepts {istio_version}"),
        };
        out.push(sail.pass(c, format!("{api} Istio is served; {accepts}")));
    } else {
        out.push(sail.problem(c, "the Sail operator's Istio API is not served", "install the Sail operator (OpenShift/Alauda Service Mesh 3 or upstream), or join with --installer istioctl|helm"));
    }
    out.push(match (f.multus, needs_multus(istio)) {
        (true, _) => multus.pass(c, "NetworkAttachmentDefinition is served"),
        (false, true) => multus.problem(
            c,
            format!(
                "the mesh file writes the CNI configuration to {} but Multus is not installed",
                istio.and_then(|i| i.cni_conf_dir.as_deref()).unwrap_or_default()
            ),
            "install Multus, or remove istio.cniConfDir from the mesh file to keep the operator's default",
        ),
        (false, false) => multus.not_applicable(c, "Multus not installed (needed only with a Multus cniConfDir)"),
    });
    let denied: Vec<&str> = f
        .permissions
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(w, _)| w.as_str())
        .collect();
    if denied.is_empty() {
        out.push(perms.pass(
            c,
            "may create namespaces, secrets, RBAC, Istio resources and gateways",
        ));
    } else {
        out.push(perms.problem(c, format!("not allowed to {}", denied.join(", ")), &format!("use a context with cluster-admin rights for the join: kubectl --context {} auth can-i --list", f.context)));
    }
    gateways_can_run(members, f, out);
}

/// Kernels and load balancers: can the east-west gateways run and get an address?
fn gateways_can_run(members: &[Member], f: &ClusterFacts, out: &mut Vec<CheckResult>) {
    let c = Some(f.name.as_str());
    let kernel = Emit::new(CheckId::PreKernel);
    let lb = Emit::new(CheckId::PreLoadBalancer);
    if f.nodes.is_empty() {
        out.push(kernel.skip(c, "no nodes registered"));
    } else {
        let old: Vec<String> = f
            .nodes
            .iter()
            .filter_map(|n| {
                let k = n["status"]["nodeInfo"]["kernelVersion"].as_str()?;
                let mut parts = k.split(['.', '-']).filter_map(|p| p.parse::<u32>().ok());
                let (ma, mi) = (parts.next()?, parts.next()?);
                ((ma, mi) < (4, 11))
                    .then(|| format!("{} ({k})", n["metadata"]["name"].as_str().unwrap_or("?")))
            })
            .collect();
        if old.is_empty() {
            out.push(kernel.pass(
                c,
                format!("{} node(s) on kernel 4.11 or later", f.nodes.len()),
            ));
        } else {
            out.push(kernel.problem(c, format!("old kernels: {}", old.join(", ")), "gateways need kernel 4.11+ (seed 004): keep them off these nodes (gatewaysOnInfraNodes) or upgrade"));
        }
    }
    let given = members
        .iter()
        .find(|m| m.name == f.name)
        .and_then(|m| m.east_west_address.clone());
    if f.load_balancers_with_address > 0 || given.is_some() {
        out.push(lb.pass(
            c,
            if given.is_some() {
                "eastWestAddress given in the mesh file".to_string()
            } else {
                format!(
                    "{} LoadBalancer Service(s) have addresses",
                    f.load_balancers_with_address
                )
            },
        ));
    } else {
        out.push(lb.problem(
            c,
            "no LoadBalancer Service here has an address: the east-west gateway may stay pending",
            "install a load balancer (MetalLB, cloud LB) or set eastWestAddress in the mesh file",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_floor_follows_the_istio_minor() {
        for (istio, floor) in [
            ("v1.27.3", 28),
            ("v1.28.1", 29),
            ("v1.29.0", 30),
            ("v1.30.3", 32),
            ("v1.31.0", 32),
        ] {
            assert_eq!(kubernetes_floor(istio), floor, "{istio}");
        }
    }

    fn facts(version: &str, multus: bool) -> ClusterFacts {
        ClusterFacts {
            name: "east".into(),
            context: "ctx".into(),
            version: version.into(),
            multus,
            ..Default::default()
        }
    }

    fn result(out: &[CheckResult], id: CheckId) -> &CheckResult {
        out.iter().find(|r| r.id == id).expect("a result")
    }

    #[test]
    fn an_old_kubernetes_fails_for_the_istio_of_the_mesh_file() {
        let istio = |v: &str| IstioSpec {
            version: Some(v.into()),
            ..IstioSpec::default()
        };
        let mut out = Vec::new();
        cluster(
            &[],
            &facts("v1.31.4", false),
            Some(&istio("v1.30.3")),
            &mut out,
        );
        let r = result(&out, CheckId::PreKubernetesVersion);
        assert_eq!(r.result, super::super::Outcome::Fail, "{r:?}");
        assert!(
            r.message.contains("(1.32)") && r.hint.contains("1.32"),
            "{r:?}"
        );
        // Positive control: the same cluster passes for Istio 1.29 (floor 1.30).
        let mut out = Vec::new();
        cluster(
            &[],
            &facts("v1.31.4", false),
            Some(&istio("v1.29.0")),
            &mut out,
        );
        assert_eq!(
            result(&out, CheckId::PreKubernetesVersion).result,
            super::super::Outcome::Pass
        );
    }

    #[test]
    fn multus_fails_only_where_the_mesh_writes_its_configuration_there() {
        let multus_dir = IstioSpec {
            cni: true,
            cni_conf_dir: Some("/etc/cni/multus/net.d".into()),
            ..IstioSpec::default()
        };
        let run = |multus: bool, istio: Option<&IstioSpec>| {
            let mut out = Vec::new();
            cluster(&[], &facts("v1.33.0", multus), istio, &mut out);
            result(&out, CheckId::PreMultus).result
        };
        use super::super::Outcome::*;
        assert_eq!(run(false, Some(&multus_dir)), Fail);
        assert_eq!(run(true, Some(&multus_dir)), Pass);
        assert_eq!(run(false, Some(&IstioSpec::default())), NotApplicable);
        assert_eq!(run(false, None), NotApplicable);
    }

    #[test]
    fn an_istio_version_the_operator_does_not_install_fails_before_the_join() {
        let crd = serde_json::json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema":
            {"properties": {"spec": {"properties": {"version": {"enum": ["v1.30.3", "v1.28.1"]}}}}}}}]}});
        let versions = super::super::facts_pre::served_istio_versions(&crd, "sailoperator.io/v1");
        assert_eq!(versions, ["v1.30.3", "v1.28.1"]);
        let run = |version: &str| {
            let mut f = facts("v1.33.0", false);
            f.istio_api = Some("sailoperator.io/v1".into());
            f.istio_versions = versions.clone();
            let istio = IstioSpec {
                version: Some(version.into()),
                ..IstioSpec::default()
            };
            let mut out = Vec::new();
            cluster(&[], &f, Some(&istio), &mut out);
            result(&out, CheckId::PreSailCrds).clone()
        };
        let r = run("v1.31.0");
        assert_eq!(r.result, super::super::Outcome::Fail, "{r:?}");
        assert!(r.message.contains("v1.30.3, v1.28.1"), "{r:?}");
        assert_eq!(run("v1.28.1").result, super::super::Outcome::Pass);
    }
}
