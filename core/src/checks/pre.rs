//! Pre-join checks: can a join work on these clusters?

use super::{CheckId, CheckResult, ClusterFacts, Emit, Member};

pub(super) fn evaluate(members: &[Member], facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    for f in facts {
        cluster(members, f, out);
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

/// The per-cluster pre-join checks.
fn cluster(members: &[Member], f: &ClusterFacts, out: &mut Vec<CheckResult>) {
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
    match minor {
        Some(m) if m >= 28 => out.push(version.pass(c, format!("Kubernetes {}", f.version))),
        Some(_) => out.push(version.problem(
            c,
            format!("Kubernetes {} is older than Istio supports", f.version),
            "upgrade the cluster to 1.28 or later",
        )),
        None => out.push(version.warn(c, format!("cannot read the version {}", f.version), "")),
    }
    if f.istio_api.is_some() {
        out.push(sail.pass(
            c,
            format!(
                "{} Istio is served",
                f.istio_api.as_deref().unwrap_or_default()
            ),
        ));
    } else {
        out.push(sail.problem(c, "the Sail operator's Istio API is not served", "install the Sail operator (OpenShift/Alauda Service Mesh 3 or upstream), or join with --installer istioctl|helm"));
    }
    out.push(if f.multus {
        multus.pass(c, "NetworkAttachmentDefinition is served")
    } else {
        multus.skip(
            c,
            "Multus not installed (needed only with a Multus cniConfDir)",
        )
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
