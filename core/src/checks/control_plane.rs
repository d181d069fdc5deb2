//! Control planes: Ready, one meshID, consistent cluster names, network labels, versions.

use super::{CheckResult, ClusterFacts, Emit, Member};
use crate::labels::NETWORK_LABEL;
use std::collections::BTreeMap;

pub(super) fn evaluate(members: &[Member], facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    let ready = Emit::new("control-plane.istio-ready");
    let net = Emit::new("control-plane.network-label");
    let live: Vec<&ClusterFacts> = facts.iter().filter(|f| f.error.is_none()).collect();
    for f in &live {
        let c = Some(f.name.as_str());
        match (&f.istio_api, &f.istio) {
            (None, _) => out.push(ready.skip(
                c,
                "the Sail operator's Istio API is not served here (installed another way?)",
            )),
            (Some(_), None) => out.push(ready.problem(
                c,
                "no Istio/default resource",
                &format!("kubectl mesh-join -f mesh.yaml --only {}", f.name),
            )),
            (Some(_), Some(i)) => {
                let conds = i["status"]["conditions"].as_array();
                match conds.and_then(|cs| cs.iter().find(|c| c["type"] == "Ready")) {
                    None => out.push(ready.skip(c, "Istio/default has no status: no Sail operator has reconciled it (is the operator running?)")),
                    Some(r) if r["status"] == "True" => out.push(ready.pass(c, "Istio/default is Ready")),
                    Some(r) => out.push(ready.problem(
                        c,
                        format!("Istio/default is not Ready: {} {}", r["reason"].as_str().unwrap_or(""), r["message"].as_str().unwrap_or("")),
                        if r["reason"] == "RemoteIstiodNotReady" {
                            "a remote is Ready only after its primary's istiod reads it (remote secret, EXTERNAL_ISTIOD, controlPlaneClusters): run the remote-access checks"
                        } else {
                            "kubectl get istio default -o yaml shows the operator's conditions"
                        },
                    )),
                }
            }
        }
        let label = f
            .namespace
            .as_ref()
            .and_then(|n| n["metadata"]["labels"][NETWORK_LABEL].as_str());
        let value = f.global()["network"].as_str();
        let expected = members
            .iter()
            .find(|m| m.name == f.name)
            .and_then(|m| m.network.as_deref());
        match (label, value) {
            (_, None) if f.istio.is_none() => {
                out.push(net.skip(c, "no Istio/default to compare with"))
            }
            (Some(l), Some(v)) if l == v && expected.is_none_or(|e| e == l) => {
                out.push(net.pass(c, format!("network {l}")))
            }
            (l, v) => out.push(net.problem(
                c,
                format!(
                    "istio-system is labelled {NETWORK_LABEL}={} but values.global.network is {}{}",
                    l.unwrap_or("<none>"),
                    v.unwrap_or("<none>"),
                    expected.map(|e| format!(" (the mesh file says {e})")).unwrap_or_default()
                ),
                &format!(
                    "make both the cluster's network: kubectl mesh-join -f mesh.yaml --only {}",
                    f.name
                ),
            )),
        }
    }

    let mesh_id = Emit::new("control-plane.mesh-id");
    let ids: BTreeMap<String, Vec<String>> = live
        .iter()
        .filter_map(|f| Some((f.global()["meshID"].as_str()?.to_string(), f.name.clone())))
        .fold(BTreeMap::new(), |mut m, (id, n)| {
            m.entry(id).or_default().push(n);
            m
        });
    match ids.len() {
        0 => out.push(mesh_id.skip(None, "no Istio/default with values.global.meshID")),
        1 => out.push(mesh_id.pass(None, format!("meshID {} everywhere", ids.keys().next().map(String::as_str).unwrap_or_default()))),
        _ => out.push(mesh_id.problem(
            None,
            format!("meshID differs: {}", ids.iter().map(|(id, ns)| format!("{id} in {}", ns.join(", "))).collect::<Vec<_>>().join("; ")),
            "every cluster of one mesh needs the same values.global.meshID: fix it in the mesh file and run kubectl mesh-join",
        )),
    }

    let names = Emit::new("control-plane.cluster-names");
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for f in &live {
        if let Some(n) = f.global()["multiCluster"]["clusterName"].as_str() {
            if let Some(other) = seen.insert(n.to_string(), f.context.clone()) {
                problems.push(format!(
                    "clusterName {n} is used in contexts {other} and {}",
                    f.context
                ));
            }
            if n != f.name {
                problems.push(format!(
                    "context {} runs clusterName {n}, but the mesh calls it {}",
                    f.context, f.name
                ));
            }
        }
    }
    for f in &live {
        for s in &f.remote_secrets {
            for key in s["data"].as_object().into_iter().flatten().map(|(k, _)| k) {
                if let Some(target) = live.iter().find(|t| t.name == *key)
                    && let Some(n) = target.global()["multiCluster"]["clusterName"].as_str()
                    && n != key
                {
                    problems.push(format!(
                        "{} reads cluster {key} but that cluster's clusterName is {n}",
                        f.name
                    ));
                }
            }
        }
    }
    if live.iter().all(|f| f.istio.is_none()) {
        out.push(names.skip(None, "no Istio/default resources to compare"));
    } else if problems.is_empty() {
        out.push(names.pass(
            None,
            "cluster names are unique and match the remote-secret keys",
        ));
    } else {
        out.push(names.problem(None, problems.join("; "), "the remote-secret key, clusterName and injection path must be one name (reference §1.8): rejoin with kubectl mesh-join"));
    }

    let skew = Emit::new("control-plane.version-skew");
    let minors: BTreeMap<String, Vec<String>> = live
        .iter()
        .filter_map(|f| {
            let v = f.istio.as_ref()?["spec"]["version"].as_str()?.to_string();
            let minor = v.split('.').take(2).collect::<Vec<_>>().join(".");
            Some((minor, f.name.clone()))
        })
        .fold(BTreeMap::new(), |mut m, (v, n)| {
            m.entry(v).or_default().push(n);
            m
        });
    match minors.len() {
        0 => out.push(skew.skip(None, "no Istio versions to compare")),
        1 => out.push(skew.pass(None, format!("all control planes on {}", minors.keys().next().map(String::as_str).unwrap_or_default()))),
        _ => out.push(skew.problem(None, format!("Istio versions differ: {}", minors.iter().map(|(v, n)| format!("{v} in {}", n.join(", "))).collect::<Vec<_>>().join("; ")), "upgrade the clusters to one minor version (one minor of skew is supported during an upgrade)")),
    }
}
