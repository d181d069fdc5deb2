//! Control planes, per cluster: `Istio/default` reconciled and Ready, istiod's pods Running and
//! Ready, and the network label.

use super::installed::{VALUES_CONFIG_MAP, deployment_not_ready};
use super::pods::{IstioState, IstiodPods, PodState, istio_state, istiod_pods};
use super::{CheckId, CheckResult, ClusterFacts, Emit, Member, Selection};
use crate::labels::{CONTROL_PLANE_CLUSTERS, ISTIO_NAMESPACE, NETWORK_LABEL};
use crate::mesh::Role;

/// The cluster's role: the mesh file's, else the observed one, else a primary.
pub fn role_of(members: &[Member], f: &ClusterFacts) -> Role {
    members
        .iter()
        .find(|m| m.name == f.name)
        .and_then(|m| m.role)
        .or_else(|| f.role())
        .unwrap_or(Role::Primary)
}

pub(super) fn evaluate(
    members: &[Member],
    facts: &[ClusterFacts],
    sel: &Selection,
    out: &mut Vec<CheckResult>,
) {
    for f in facts.iter().filter(|f| f.error.is_none()) {
        out.push(istio_ready(f, sel));
        out.push(super::roles::role(members, f));
        out.push(istiod(f, role_of(members, f)));
        out.push(network_label(members, f));
        out.push(cni_ready(f, sel));
        out.push(remote_annotation(members, f));
    }
}

/// `control-plane.cni-ready`: where the mesh file installs CNI (or, without one, where an
/// `IstioCNI` exists), it is reconciled and Ready, read like `Istio`'s status.
fn cni_ready(f: &ClusterFacts, sel: &Selection) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneCniReady);
    let c = Some(f.name.as_str());
    let wanted = sel.istio.as_ref().map(|i| i.cni);
    if wanted != Some(true) && f.istio_cni.is_none() {
        return e.not_applicable(c, "the mesh does not use IstioCNI");
    }
    let ctx = &f.context;
    let grace = time::Duration::try_from(sel.istio_grace).unwrap_or(time::Duration::MAX);
    match istio_state(f.istio_api.is_some(), f.istio_cni.as_ref(), sel.now, grace) {
        IstioState::Ready => e.pass(c, "IstioCNI/default is reconciled and Ready"),
        IstioState::ApiNotServed => e.problem(c, format!("context {ctx} does not serve the Sail operator's IstioCNI API"), &format!("install the Sail operator on {}", f.name)),
        IstioState::Missing => e.problem(c, "the mesh file installs CNI (istio.cni) but there is no IstioCNI/default", &join_hint(f)),
        IstioState::Pending { age_secs } => e.warn(c, format!("IstioCNI/default has no status yet ({})", age(age_secs)), "wait for the operator, or rerun with --wait 5m"),
        IstioState::NeverReconciled { age_secs } => e.problem(c, format!("IstioCNI/default has no status ({}): no operator has reconciled it", age(age_secs)), &format!("is the Sail operator running? kubectl --context {ctx} get pods -A -l app.kubernetes.io/name=sail-operator")),
        IstioState::Stale { generation, observed } => e.problem(c, stale("IstioCNI/default", generation, observed), &operator_hint(ctx)),
        IstioState::NotReconciled { reason, message } | IstioState::NotReady { reason, message } => e.problem(
            c,
            format!("IstioCNI/default is not Ready: {reason}: {message}"),
            &format!("kubectl --context {ctx} get istiocni default -o yaml shows the operator's conditions; on OpenShift or with Multus check istio.cniConfDir"),
        ),
    }
}

/// A status left from an earlier spec: never ✔, whatever its Ready says.
fn stale(what: &str, generation: i64, observed: Option<i64>) -> String {
    let seen = observed.map_or("no generation".to_string(), |o| format!("generation {o}"));
    format!(
        "{what} is at generation {generation} but its status describes {seen}: the operator has not reconciled the current spec (its Ready is not believed)"
    )
}

fn operator_hint(ctx: &str) -> String {
    format!(
        "wait for the operator (rerun with --wait 5m); if it stays, is the Sail operator running? kubectl --context {ctx} get pods -A -l app.kubernetes.io/name=sail-operator"
    )
}

/// `control-plane.control-plane-clusters`: a remote's Istio namespace names its primary, so the
/// primary's istiod configures it (the annotation seeds 001 and 004 set).
fn remote_annotation(members: &[Member], f: &ClusterFacts) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneRemoteAnnotation);
    let c = Some(f.name.as_str());
    if role_of(members, f) != Role::Remote {
        return e.not_applicable(c, "a primary runs its own istiod");
    }
    let value = f
        .namespace
        .as_ref()
        .and_then(|n| n["metadata"]["annotations"][CONTROL_PLANE_CLUSTERS].as_str());
    let primary = members
        .iter()
        .find(|m| m.name == f.name)
        .and_then(|m| m.primary.as_deref());
    let names = |v: &str| {
        v.split(',')
            .any(|p| p.trim() == "*" || Some(p.trim()) == primary)
    };
    match value {
        Some(v) if primary.is_none() || names(v) => e.pass(c, format!("{ISTIO_NAMESPACE} names its control plane: {v}")),
        Some(v) => e.problem(
            c,
            format!("{ISTIO_NAMESPACE} names control plane cluster(s) '{v}', not its primary '{}'", primary.unwrap_or_default()),
            &join_hint(f),
        ),
        None => e.problem(
            c,
            format!("{ISTIO_NAMESPACE} has no {CONTROL_PLANE_CLUSTERS} annotation: no primary's istiod takes this remote's configuration"),
            &join_hint(f),
        ),
    }
}

fn join_hint(f: &ClusterFacts) -> String {
    format!("kubectl mesh-join -f mesh.yaml --only {}", f.name)
}

fn age(secs: Option<i64>) -> String {
    secs.map(|s| format!("created {s}s ago"))
        .unwrap_or_else(|| "no creation time".into())
}

fn istio_ready(f: &ClusterFacts, sel: &Selection) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneIstioReady);
    let c = Some(f.name.as_str());
    let ctx = &f.context;
    if let (None, Some(installed)) = (&f.istio, &f.installed) {
        return installed_ready(f, installed);
    }
    let show = format!(
        "kubectl --context {ctx} get istio default -o yaml shows the operator's conditions"
    );
    match istio_state(f.istio_api.is_some(), f.istio.as_ref(), sel.now, time::Duration::try_from(sel.istio_grace).unwrap_or(time::Duration::MAX)) {
        IstioState::ApiNotServed => e.problem(
            c,
            format!("context {ctx} does not serve the Sail operator's Istio API (sailoperator.io): no operator manages a control plane here"),
            &format!("install the Sail operator on {}, then {}", f.name, join_hint(f)),
        ),
        IstioState::Missing => e.problem(c, "no Istio/default resource", &join_hint(f)),
        IstioState::Pending { age_secs } => e.warn(
            c,
            format!("Istio/default has no status yet ({}; the operator gets {}s to reconcile it)", age(age_secs), sel.istio_grace.as_secs()),
            "wait for the operator, or rerun with --wait 5m",
        ),
        IstioState::NeverReconciled { age_secs } => e.problem(
            c,
            format!("Istio/default has no status ({}): no operator has reconciled it", age(age_secs)),
            &format!("is the Sail operator running? kubectl --context {ctx} get pods -A -l app.kubernetes.io/name=sail-operator"),
        ),
        IstioState::Stale { generation, observed } => e.problem(c, stale("Istio/default", generation, observed), &operator_hint(ctx)),
        IstioState::NotReconciled { reason, message } => e.problem(
            c,
            format!("Istio/default is not reconciled: {reason}: {message}"),
            &format!("the operator could not apply it; {show}; fix the mesh file and rerun {}", join_hint(f)),
        ),
        IstioState::NotReady { reason, message } => e.problem(
            c,
            format!("Istio/default is not Ready: {reason}: {message}"),
            &if reason == "RemoteIstiodNotReady" {
                "a remote is Ready only after its primary's istiod reads it (remote secret, EXTERNAL_ISTIOD, controlPlaneClusters): run the remote-access checks".to_string()
            } else {
                show
            },
        ),
        IstioState::Ready => e.pass(c, "Istio/default is reconciled and Ready"),
    }
}

/// A control plane istioctl or Helm installed: a primary is ready when istiod's Deployment is
/// available with every replica updated; a remote runs no istiod (its values were read).
fn installed_ready(f: &ClusterFacts, installed: &serde_json::Value) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneIstioReady);
    let c = Some(f.name.as_str());
    let by = installed["installer"].as_str().unwrap_or("an installer");
    let version = installed["spec"]["version"]
        .as_str()
        .unwrap_or("an unknown version");
    if f.role() == Some(Role::Remote) {
        return e.pass(c, format!("remote profile installed by {by} ({version}): no istiod here, its values read from {ISTIO_NAMESPACE}/{VALUES_CONFIG_MAP}"));
    }
    match deployment_not_ready(Some(&installed["deployment"])) {
        None => e.pass(c, format!("istiod installed by {by} ({version}): its Deployment is available, every replica updated")),
        Some(why) => e.problem(
            c,
            format!("no Istio/default (installed by {by}): {why}"),
            &format!("kubectl --context {} -n {ISTIO_NAMESPACE} describe deployment istiod shows why", f.context),
        ),
    }
}

fn list(states: &[PodState]) -> String {
    states
        .iter()
        .map(PodState::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

fn istiod(f: &ClusterFacts, role: Role) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneIstiodPods);
    let c = Some(f.name.as_str());
    if role == Role::Remote {
        return e.not_applicable(c, "a remote runs no istiod: its primary's istiod serves it");
    }
    let logs = format!(
        "kubectl --context {} -n {ISTIO_NAMESPACE} logs -l app=istiod --previous shows why it stopped",
        f.context
    );
    match istiod_pods(&f.pods_labelled("app", "istiod")) {
        IstiodPods::None => e.problem(
            c,
            format!("no istiod pod (label app=istiod) in {ISTIO_NAMESPACE}"),
            &format!(
                "the operator creates deployment/istiod once Istio/default is reconciled: kubectl --context {} get istio default -o yaml",
                f.context
            ),
        ),
        IstiodPods::Healthy(states) => e.pass(
            c,
            format!(
                "{} istiod pod(s) Running and Ready ({} restart(s))",
                states.len(),
                states.iter().map(|s| s.restarts).sum::<i64>()
            ),
        ),
        IstiodPods::Degraded(states) => e.warn(
            c,
            format!(
                "some istiod pods do not serve: {}",
                list(&states.into_iter().filter(|s| !s.healthy()).collect::<Vec<_>>())
            ),
            &logs,
        ),
        IstiodPods::Down(states) => e.problem(c, format!("no istiod pod serves: {}", list(&states)), &logs),
    }
}

fn network_label(members: &[Member], f: &ClusterFacts) -> CheckResult {
    let net = Emit::new(CheckId::ControlPlaneNetworkLabel);
    let c = Some(f.name.as_str());
    let label = f
        .namespace
        .as_ref()
        .and_then(|n| n["metadata"]["labels"][NETWORK_LABEL].as_str());
    let value = f.global()["network"].as_str();
    let expected = members
        .iter()
        .find(|m| m.name == f.name)
        .and_then(|m| m.network.as_deref());
    let networks: std::collections::BTreeSet<&str> = members
        .iter()
        .filter_map(|m| m.network.as_deref())
        .collect();
    match (label, value) {
        (Some(l), Some(v)) if l == v && expected.is_none_or(|e| e == l) => {
            net.pass(c, format!("network {l}"))
        }
        // Seed 001's remote sets no values.global.network: istiod takes the namespace label.
        (Some(l), None) if f.control_plane().is_some() && expected.is_none_or(|e| e == l) => net
            .pass(
                c,
                format!("network {l} (the {ISTIO_NAMESPACE} label; values.global.network unset)"),
            ),
        // Nothing set anywhere is one network without a name: fine while the mesh has one.
        (None, None) if f.control_plane().is_some() && networks.len() <= 1 => {
            net.pass(c, "no network named anywhere: one network")
        }
        (_, None) if f.control_plane().is_none() => net.problem(
            c,
            "no Istio/default to read values.global.network from",
            &join_hint(f),
        ),
        (l, v) => net.problem(
            c,
            format!(
                "istio-system is labelled {NETWORK_LABEL}={} but values.global.network is {}{}",
                l.unwrap_or("<none>"),
                v.unwrap_or("<none>"),
                expected
                    .map(|e| format!(" (the mesh file says {e})"))
                    .unwrap_or_default()
            ),
            &format!("make both the cluster's network: {}", join_hint(f)),
        ),
    }
}

#[cfg(test)]
#[path = "control_plane_tests.rs"]
mod tests;
