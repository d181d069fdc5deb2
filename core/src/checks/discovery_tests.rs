#![allow(clippy::unwrap_used)]
use super::*;
use crate::checks::Outcome;
use serde_json::json;

/// `/debug/networkz` as a lab istiod (pilot-discovery) answered it for a two-network mesh.
const NETWORKZ: &str = r#"[{"Network":"network1","Cluster":"east","Addr":"192.0.2.1","Port":15443,"HBONEPort":0,"ServiceAccount":{"Namespace":"","Name":""}},{"Network":"network2","Cluster":"west","Addr":"192.0.2.2","Port":15443,"HBONEPort":0,"ServiceAccount":{"Namespace":"","Name":""}}]"#;

fn site(name: &str, network: &str) -> Site {
    Site {
        name: name.into(),
        context: format!("ctx-{name}"),
        network: Some(network.into()),
        gateway_addresses: Some(vec![match network {
            "network1" => "192.0.2.1".into(),
            _ => "192.0.2.2".into(),
        }]),
    }
}

fn gateways() -> Vec<NetworkGateway> {
    serde_json::from_str(NETWORKZ).unwrap()
}

#[test]
fn istiods_networkz_parses() {
    let g = gateways();
    assert_eq!(g[1].network, "network2");
    assert_eq!((g[1].addr.as_str(), g[1].port), ("192.0.2.2", 15443));
}

#[test]
fn a_gateway_for_every_other_network_passes_and_one_network_skips() {
    let sites = [site("east", "network1"), site("west", "network2")];
    let r = network_gateways(&sites[0], &sites, &Ok(Some(gateways())), false);
    assert_eq!(r.result, Outcome::Pass, "{r:?}");
    assert!(
        r.message.contains("network2 via 192.0.2.2:15443"),
        "{}",
        r.message
    );
    let one = [site("east", "n1"), site("west", "n1")];
    let r = network_gateways(&one[0], &one, &Ok(None), false);
    assert_eq!(r.result, Outcome::NotApplicable);
}

#[test]
fn a_missing_or_loopback_gateway_fails_naming_network_cluster_and_service() {
    let sites = [site("east", "network1"), site("west", "network2")];
    let only_own: Vec<_> = gateways()
        .into_iter()
        .filter(|g| g.network == "network1")
        .collect();
    let r = network_gateways(&sites[0], &sites, &Ok(Some(only_own)), false);
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message.contains("no gateway for network network2"),
        "{}",
        r.message
    );
    assert!(
        r.hint.contains("'west' (context ctx-west)") && r.hint.contains("istio-eastwestgateway"),
        "{}",
        r.hint
    );
    let mut lo = gateways();
    lo[1].addr = "127.0.11.1".into();
    let sites = [
        site("east", "network1"),
        Site {
            gateway_addresses: Some(vec!["127.0.11.1".into()]),
            ..site("west", "network2")
        },
    ];
    let r = network_gateways(&sites[0], &sites, &Ok(Some(lo.clone())), false);
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message.contains("127.0.11.1:15443 (a loopback address)"),
        "{}",
        r.message
    );
    // Positive control: the same view passes where loopback is allowed (a lab on one host).
    assert_eq!(
        network_gateways(&sites[0], &sites, &Ok(Some(lo)), true).result,
        Outcome::Pass
    );
}

#[test]
fn an_address_no_gateway_service_has_any_more_is_stale() {
    let mut sites = [site("east", "network1"), site("west", "network2")];
    sites[1].gateway_addresses = Some(Vec::new());
    let r = network_gateways(&sites[0], &sites, &Ok(Some(gateways())), false);
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message.contains("192.0.2.2:15443 (stale"),
        "{}",
        r.message
    );
    // Unread facts of the other cluster: istiod's view is taken as it is.
    sites[1].gateway_addresses = None;
    let r = network_gateways(&sites[0], &sites, &Ok(Some(gateways())), false);
    assert_eq!(r.result, Outcome::Pass, "{r:?}");
}

#[test]
fn an_unread_networkz_is_a_failure_never_a_pass() {
    let sites = [site("east", "network1"), site("west", "network2")];
    let r = network_gateways(&sites[0], &sites, &Err("connection refused".into()), false);
    assert_eq!(r.result, Outcome::Fail);
    assert!(r.message.contains("connection refused"));
    let r = network_gateways(&sites[0], &sites, &Ok(None), false);
    assert_eq!(r.result, Outcome::Fail);
    assert!(r.message.contains("no Running app=istiod pod"));
}

fn shardz() -> Value {
    let ep = |ip: &str, net: &str, c: &str| json!({"Addresses": [ip], "Network": net, "Locality": {"Label": "", "ClusterID": c}, "EndpointPort": 5000});
    json!({"helloworld.sample.svc.cluster.local": {"sample": {"Shards": {
        "Kubernetes/east": [ep("10.1.0.5", "network1", "east")],
        "Kubernetes/west": [ep("10.2.0.5", "network2", "west")],
    }, "ServiceAccounts": {}}}})
}

fn here() -> Presence {
    Presence {
        service: true,
        ready_pods: 1,
        ready_addresses: 1,
    }
}

fn svc() -> ServiceRef {
    ServiceRef::parse("sample/helloworld").unwrap()
}

#[test]
fn endpoints_from_every_cluster_running_it_pass() {
    let sites = [site("east", "network1"), site("west", "network2")];
    let running = [
        (sites[0].clone(), Ok(here())),
        (sites[1].clone(), Ok(here())),
    ];
    let view = Ok(Some(shards_of(&shardz(), &svc())));
    let r = endpoints(&sites[0], &sites, &svc(), &running, &view);
    assert_eq!(r.result, Outcome::Pass, "{r:?}");
    assert!(r.message.contains("east (1), west (1)"), "{}", r.message);
}

#[test]
fn a_missing_shard_or_a_wrong_network_fails() {
    let sites = [site("east", "network1"), site("west", "network2")];
    let running = [
        (sites[0].clone(), Ok(here())),
        (sites[1].clone(), Ok(here())),
    ];
    let mut z = shardz();
    z["helloworld.sample.svc.cluster.local"]["sample"]["Shards"]
        .as_object_mut()
        .unwrap()
        .remove("Kubernetes/west");
    let r = endpoints(
        &sites[0],
        &sites,
        &svc(),
        &running,
        &Ok(Some(shards_of(&z, &svc()))),
    );
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message.contains("no endpoints from 'west'"),
        "{}",
        r.message
    );
    let mut z = shardz();
    z["helloworld.sample.svc.cluster.local"]["sample"]["Shards"]["Kubernetes/west"][0]["Network"] =
        json!("");
    let r = endpoints(
        &sites[0],
        &sites,
        &svc(),
        &running,
        &Ok(Some(shards_of(&z, &svc()))),
    );
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message.contains("carry no network instead of 'network2'"),
        "{}",
        r.message
    );
}

#[test]
fn what_could_not_be_read_fails_and_a_service_nowhere_fails() {
    let sites = [site("east", "n1"), site("west", "n1")];
    let unknown = [
        (sites[0].clone(), Ok(here())),
        (sites[1].clone(), Err("Forbidden".to_string())),
    ];
    let view = Ok(Some(shards_of(&shardz(), &svc())));
    let r = endpoints(&sites[0], &sites, &svc(), &unknown, &view);
    assert_eq!(r.result, Outcome::Fail);
    assert!(r.message.contains("'west'") && r.message.contains("Forbidden"));
    let nowhere = [
        (sites[0].clone(), Ok(Presence::default())),
        (sites[1].clone(), Ok(Presence::default())),
    ];
    let r = endpoints(&sites[0], &sites, &svc(), &nowhere, &view);
    assert_eq!(r.result, Outcome::Fail);
    assert!(
        r.message
            .contains("no Ready pods or endpoints in any cluster")
    );
    let running = [(sites[0].clone(), Ok(here()))];
    let r = endpoints(&sites[0], &sites, &svc(), &running, &Err("timeout".into()));
    assert_eq!(r.result, Outcome::Fail);
}

#[test]
fn service_names_are_checked() {
    assert_eq!(svc().host(), "helloworld.sample.svc.cluster.local");
    for bad in ["helloworld", "/x", "a/", "A/b", "a/b/c", "-a/b"] {
        assert!(ServiceRef::parse(bad).is_err(), "{bad}");
    }
}
