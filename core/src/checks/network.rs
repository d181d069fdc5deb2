//! Gateways and exposure: the east-west Service, the cross-network Gateway, istiod exposure.

use super::control_plane::role_of;
use super::gateways::{self, CROSS_NETWORK, EXPOSE_ISTIOD, GatewayProblem};
use super::{CheckId, CheckResult, ClusterFacts, Emit, Member};
use crate::manifests::gateway;
use crate::mesh::Role;
use serde_json::Value;

pub(super) fn evaluate(members: &[Member], facts: &[ClusterFacts], out: &mut Vec<CheckResult>) {
    let networks: std::collections::BTreeSet<String> = facts
        .iter()
        .filter_map(|f| f.global()["network"].as_str().map(String::from))
        .chain(members.iter().filter_map(|m| m.network.clone()))
        .collect();
    let multi_network = networks.len() > 1;
    for f in facts.iter().filter(|f| f.error.is_none()) {
        let role = role_of(members, f);
        let has_remotes = members
            .iter()
            .any(|r| r.primary.as_deref() == Some(f.name.as_str()))
            || f.control_plane().is_some_and(serves_as_external_istiod);
        let serves_remotes = role == Role::Primary && has_remotes;
        out.push(service(
            members,
            f,
            multi_network || serves_remotes,
            serves_remotes,
        ));
        out.push(super::gateway_pods::eastwest_pods(
            f,
            multi_network || serves_remotes,
        ));
        let pods = f.pods_labelled("istio", "eastwestgateway");
        let targets = gateways::targets(&pods, f.east_west_service.as_ref());
        let find = |list: &[Value], name: &str| {
            list.iter().find(|g| g["metadata"]["name"] == name).cloned()
        };
        let c = Some(f.name.as_str());
        let cross = Emit::new(CheckId::NetworkCrossNetworkGateway);
        out.push(if !multi_network {
            cross.not_applicable(c, "single network: no cross-network gateway needed")
        } else if role == Role::Remote {
            cross.not_applicable(c, "a remote uses its primary's configuration")
        } else {
            let gw = find(&f.gateways, gateway::CROSS_NETWORK_GATEWAY);
            gateway_result(
                cross,
                f,
                gateway::CROSS_NETWORK_GATEWAY,
                &gateways::compare(gw.as_ref(), CROSS_NETWORK, targets.as_ref()),
                "services here are unreachable from other networks",
            )
        });
        let expose = Emit::new(CheckId::NetworkExposeIstiod);
        out.push(if !serves_remotes {
            expose.not_applicable(c, "no remote uses this cluster's istiod")
        } else {
            let gw = find(&f.gateways, gateway::ISTIOD_GATEWAY);
            let mut problems = gateways::compare(gw.as_ref(), EXPOSE_ISTIOD, targets.as_ref());
            match &f.virtual_services {
                None => problems.push(GatewayProblem::VirtualServiceNotRead),
                Some(vs) if gw.is_some() && find(vs, gateway::ISTIOD_VIRTUAL_SERVICE).is_none() => {
                    problems.push(GatewayProblem::VirtualServiceMissing)
                }
                Some(_) => {}
            }
            gateway_result(
                expose,
                f,
                &format!(
                    "{} / VirtualService {}",
                    gateway::ISTIOD_GATEWAY,
                    gateway::ISTIOD_VIRTUAL_SERVICE
                ),
                &problems,
                "remotes cannot reach istiod",
            )
        });
    }
}

fn gateway_result(
    e: Emit,
    f: &ClusterFacts,
    name: &str,
    problems: &[GatewayProblem],
    effect: &str,
) -> CheckResult {
    let c = Some(f.name.as_str());
    if problems.is_empty() {
        let what = match e.id() {
            CheckId::NetworkCrossNetworkGateway => {
                "serves 15443 AUTO_PASSTHROUGH for *.local on the east-west gateway"
            }
            _ => "expose istiod on 15012 and 15017 (PASSTHROUGH) through the east-west gateway",
        };
        return e.pass(c, format!("{name} {what}"));
    }
    let what: Vec<String> = problems.iter().map(GatewayProblem::describe).collect();
    e.problem(
        c,
        format!("Gateway istio-system/{name}: {}: {effect}", what.join("; ")),
        &format!(
            "kubectl mesh-join -f mesh.yaml --only {} rewrites it",
            f.name
        ),
    )
}

fn service(
    members: &[Member],
    f: &ClusterFacts,
    needed: bool,
    serves_remotes: bool,
) -> CheckResult {
    let svc = Emit::new(CheckId::NetworkEastwestService);
    let c = Some(f.name.as_str());
    let join = format!("kubectl mesh-join -f mesh.yaml --only {}", f.name);
    if !needed {
        return svc.not_applicable(c, "one network and no remotes: no east-west gateway needed");
    }
    let Some(s) = &f.east_west_service else {
        return svc.problem(
            c,
            format!("no Service istio-system/{}", gateway::EAST_WEST),
            &join,
        );
    };
    let ports: Vec<i64> = s["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["port"].as_i64())
        .collect();
    let mut want = vec![15443];
    if serves_remotes {
        want.extend([15012, 15017]);
    }
    let missing: Vec<String> = want
        .iter()
        .filter(|p| !ports.contains(p))
        .map(|p| p.to_string())
        .collect();
    if !missing.is_empty() {
        return svc.problem(
            c,
            format!("the east-west Service lacks port(s) {}", missing.join(", ")),
            &join,
        );
    }
    let shown = want
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let ingress = &s["status"]["loadBalancer"]["ingress"][0];
    let given = members
        .iter()
        .find(|m| m.name == f.name)
        .and_then(|m| m.east_west_address.clone());
    if let Some(ip) = ingress["ip"].as_str() {
        svc.pass(c, format!("east-west gateway at {ip} (ports {shown})"))
    } else if let Some(host) = ingress["hostname"].as_str() {
        svc.warn(c, format!("east-west gateway has only a hostname ({host})"), "istiod resolves gateway hostnames itself; make sure it resolves from every cluster, or give an IP as eastWestAddress")
    } else if let Some(a) = given {
        let external: Vec<&str> = s["spec"]["externalIPs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        if external.contains(&a.as_str()) || a.parse::<std::net::IpAddr>().is_err() {
            svc.pass(c, format!("east-west gateway address {a} (from the mesh file; no load balancer address; ports {shown})"))
        } else {
            svc.problem(c, format!("eastWestAddress {a} is not among the Service's externalIPs ({}): istiod does not learn it", if external.is_empty() { "none".to_string() } else { external.join(", ") }), &join)
        }
    } else if let Some(ip) = s["spec"]["externalIPs"][0].as_str() {
        svc.pass(
            c,
            format!("east-west gateway at {ip} (externalIPs; ports {shown})"),
        )
    } else if s["spec"]["type"] == "NodePort" {
        svc.warn(c, "the east-west Service is a NodePort", "give a node address reachable from the other networks as eastWestAddress in the mesh file")
    } else {
        svc.problem(c, "the east-west Service has no external address (load balancer pending)", "install a load balancer (e.g. MetalLB), or set eastWestAddress in the mesh file to an address the other networks reach")
    }
}

/// Whether an `Istio` is set up to serve remotes: `pilot.env.EXTERNAL_ISTIOD` (as mesh-join and
/// seed 004 write it) or `values.global.externalIstiod` (as seed 001 and upstream's docs do).
pub(super) fn serves_as_external_istiod(istio: &Value) -> bool {
    let values = &istio["spec"]["values"];
    let truthy = |v: &Value| v == true || v == "true";
    truthy(&values["pilot"]["env"]["EXTERNAL_ISTIOD"])
        || truthy(&values["global"]["externalIstiod"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;
    use serde_json::json;

    fn with_service(spec: Value, given: Option<&str>) -> CheckResult {
        let member = Member {
            name: "east".into(),
            context: "ctx-east".into(),
            network: Some("n1".into()),
            role: Some(Role::Primary),
            primary: None,
            east_west_address: given.map(String::from),
        };
        let f = ClusterFacts {
            name: "east".into(),
            east_west_service: Some(json!({"spec": spec})),
            ..Default::default()
        };
        service(&[member], &f, true, false)
    }

    #[test]
    fn either_external_istiod_setting_marks_a_primary_serving_remotes() {
        let env = json!({"spec": {"values": {"pilot": {"env": {"EXTERNAL_ISTIOD": "true"}}}}});
        let global = json!({"spec": {"values": {"global": {"externalIstiod": true}}}});
        let neither = json!({"spec": {"values": {"global": {"network": "n1"}}}});
        assert!(serves_as_external_istiod(&env));
        assert!(serves_as_external_istiod(&global));
        assert!(!serves_as_external_istiod(&neither));
    }

    #[test]
    fn an_east_west_address_counts_only_when_the_service_carries_it() {
        let ports = json!([{"port": 15443}]);
        let on = with_service(
            json!({"ports": ports, "externalIPs": ["192.0.2.1"]}),
            Some("192.0.2.1"),
        );
        assert_eq!(on.result, Outcome::Pass, "{on:?}");
        let off = with_service(json!({"ports": ports}), Some("192.0.2.1"));
        assert_eq!(off.result, Outcome::Fail, "{off:?}");
        assert!(
            off.message
                .contains("not among the Service's externalIPs (none)")
        );
        // externalIPs alone (no mesh-file address, no load balancer) is an address istiod reads.
        let alone = with_service(json!({"ports": ports, "externalIPs": ["192.0.2.9"]}), None);
        assert_eq!(alone.result, Outcome::Pass, "{alone:?}");
        let none = with_service(json!({"ports": ports, "type": "LoadBalancer"}), None);
        assert_eq!(none.result, Outcome::Fail);
    }
}
