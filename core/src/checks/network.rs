//! Gateways and exposure: the east-west Service, the cross-network Gateway, istiod exposure.

use super::{CheckResult, ClusterFacts, Emit, Member};
use crate::manifests::gateway;
use crate::mesh::Role;

pub(super) fn evaluate(members: &[Member], facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    let svc = Emit::new("network.eastwest-service");
    let cross = Emit::new("network.cross-network-gateway");
    let expose = Emit::new("network.expose-istiod");
    let networks: std::collections::BTreeSet<String> = facts
        .iter()
        .filter_map(|f| f.global()["network"].as_str().map(String::from))
        .chain(members.iter().filter_map(|m| m.network.clone()))
        .collect();
    let multi_network = networks.len() > 1;
    for f in facts.iter().filter(|f| f.error.is_none()) {
        let c = Some(f.name.as_str());
        let m = members.iter().find(|m| m.name == f.name);
        let role = m
            .and_then(|m| m.role)
            .or_else(|| f.role())
            .unwrap_or(Role::Primary);
        let has_remotes = members
            .iter()
            .any(|r| r.primary.as_deref() == Some(f.name.as_str()))
            || f.istio
                .as_ref()
                .is_some_and(|i| i["spec"]["values"]["pilot"]["env"]["EXTERNAL_ISTIOD"] == "true");
        let needs_gateway = multi_network || (role == Role::Primary && has_remotes);
        if !needs_gateway {
            out.push(svc.skip(c, "one network and no remotes: no east-west gateway needed"));
        } else {
            match &f.east_west_service {
                None => out.push(svc.problem(
                    c,
                    format!("no Service istio-system/{}", gateway::EAST_WEST),
                    &format!("kubectl mesh-join -f mesh.yaml --only {}", f.name),
                )),
                Some(s) => {
                    let ports: Vec<i64> = s["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["port"].as_i64())
                        .collect();
                    let mut want = vec![15443];
                    if has_remotes {
                        want.extend([15012, 15017]);
                    }
                    let missing: Vec<String> = want
                        .iter()
                        .filter(|p| !ports.contains(p))
                        .map(|p| p.to_string())
                        .collect();
                    let ingress = &s["status"]["loadBalancer"]["ingress"][0];
                    let given = m.and_then(|m| m.east_west_address.clone());
                    if !missing.is_empty() {
                        out.push(svc.problem(
                            c,
                            format!("the east-west Service lacks port(s) {}", missing.join(", ")),
                            &format!("kubectl mesh-join -f mesh.yaml --only {}", f.name),
                        ));
                    } else if let Some(ip) = ingress["ip"].as_str() {
                        out.push(svc.pass(
                            c,
                            format!(
                                    "east-west gateway at {ip} (ports {})",
                                    want.iter()
                                        .map(|p| p.to_string())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                        ));
                    } else if let Some(host) = ingress["hostname"].as_str() {
                        out.push(svc.warn(c, format!("east-west gateway has only a hostname ({host})"), "istiod resolves gateway hostnames itself; make sure it resolves from every cluster, or give an IP as eastWestAddress"));
                    } else if let Some(a) = given {
                        out.push(svc.pass(c, format!("east-west gateway address {a} (from the mesh file; no load balancer address)")));
                    } else if s["spec"]["type"] == "NodePort" {
                        out.push(svc.warn(c, "the east-west Service is a NodePort", "give a node address reachable from the other networks as eastWestAddress in the mesh file"));
                    } else {
                        out.push(svc.problem(c, "the east-west Service has no external address (load balancer pending)", "install a load balancer (e.g. MetalLB), or set eastWestAddress in the mesh file to an address the other networks reach"));
                    }
                }
            }
        }
        let has = |list: &[serde_json::Value], name: &str| {
            list.iter().any(|g| g["metadata"]["name"] == name)
        };
        if multi_network && role == Role::Primary {
            if has(&f.gateways, gateway::CROSS_NETWORK_GATEWAY) {
                out.push(cross.pass(c, "cross-network-gateway (15443, AUTO_PASSTHROUGH) exists"));
            } else {
                out.push(cross.problem(c, "no Gateway istio-system/cross-network-gateway: services here are unreachable from other networks", &format!("kubectl mesh-join -f mesh.yaml --only {}", f.name)));
            }
        } else {
            out.push(cross.skip(
                c,
                if multi_network {
                    "a remote uses its primary's configuration"
                } else {
                    "single network"
                },
            ));
        }
        if role == Role::Primary && has_remotes {
            if has(&f.gateways, gateway::ISTIOD_GATEWAY)
                && has(&f.virtual_services, gateway::ISTIOD_VIRTUAL_SERVICE)
            {
                out.push(expose.pass(
                    c,
                    "istiod-gateway and istiod-vs expose istiod on 15012/15017",
                ));
            } else {
                out.push(expose.problem(
                    c,
                    "istiod is not exposed to remotes (istiod-gateway / istiod-vs missing)",
                    &format!("kubectl mesh-join -f mesh.yaml --only {}", f.name),
                ));
            }
        } else {
            out.push(expose.skip(c, "no remotes use this cluster's istiod"));
        }
    }
}
