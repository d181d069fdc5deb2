//! The four two-cluster topologies, each joined on a lab whose clusters are untouched, checked,
//! joined again (nothing written), checked by `mesh-verify` and purged back to untouched.

use super::{Untouched, check_remote_secret, istio, topology};
use mesh_lab::Lab;
use mesh_lab::testing::kubectl_json;

pub fn multi_primary_single_network(lab: &Lab, untouched: &Untouched) {
    topology(
        lab,
        untouched,
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network1, role: primary}\n",
        |lab, w| {
            for (ctx, name, peer) in [("lab-1", "east", "west"), ("lab-2", "west", "east")] {
                let i = istio(lab, ctx);
                assert_eq!(
                    i["spec"]["values"]["global"]["multiCluster"]["clusterName"],
                    name
                );
                assert_eq!(i["spec"]["values"]["global"]["meshID"], "mesh1");
                assert!(
                    kubectl_json(
                        lab,
                        ctx,
                        &[
                            "get",
                            "service",
                            "istio-eastwestgateway",
                            "-n",
                            "istio-system"
                        ]
                    )
                    .is_none(),
                    "one network needs no east-west gateway"
                );
                check_remote_secret(lab, w, ctx, peer);
            }
        },
    );
}

pub fn multi_primary_multi_network(lab: &Lab, untouched: &Untouched) {
    topology(
        lab,
        untouched,
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary}\n- {name: west, context: lab-2, network: network2, role: primary}\n",
        |lab, w| {
            for (ctx, net, peer) in [("lab-1", "network1", "west"), ("lab-2", "network2", "east")] {
                let ns = kubectl_json(lab, ctx, &["get", "namespace", "istio-system"]).unwrap();
                assert_eq!(ns["metadata"]["labels"]["topology.istio.io/network"], net);
                let svc = kubectl_json(
                    lab,
                    ctx,
                    &[
                        "get",
                        "service",
                        "istio-eastwestgateway",
                        "-n",
                        "istio-system",
                    ],
                )
                .unwrap();
                let ports: Vec<i64> = svc["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["port"].as_i64().unwrap())
                    .collect();
                assert!(ports.contains(&15443));
                assert_eq!(svc["metadata"]["labels"]["topology.istio.io/network"], net);
                let gw = kubectl_json(
                    lab,
                    ctx,
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "cross-network-gateway",
                        "-n",
                        "istio-system",
                    ],
                )
                .unwrap();
                assert_eq!(gw["spec"]["servers"][0]["tls"]["mode"], "AUTO_PASSTHROUGH");
                check_remote_secret(lab, w, ctx, peer);
            }
        },
    );
}

pub fn primary_remote_single_network(lab: &Lab, untouched: &Untouched) {
    topology(
        lab,
        untouched,
        "meshID: mesh1\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.10}\n- {name: west, context: lab-2, network: network1, role: remote, primary: east}\n",
        |lab, w| {
            let east = istio(lab, "lab-1");
            assert_eq!(
                east["spec"]["values"]["pilot"]["env"]["EXTERNAL_ISTIOD"],
                "true"
            );
            let west = istio(lab, "lab-2");
            assert_eq!(west["spec"]["profile"], "remote");
            assert_eq!(
                west["spec"]["values"]["istiodRemote"]["injectionPath"],
                "/inject/cluster/west/net/network1"
            );
            assert_eq!(
                west["spec"]["values"]["global"]["remotePilotAddress"],
                "192.0.2.10"
            );
            let ns = kubectl_json(lab, "lab-2", &["get", "namespace", "istio-system"]).unwrap();
            assert_eq!(
                ns["metadata"]["annotations"]["topology.istio.io/controlPlaneClusters"],
                "east"
            );
            assert!(
                kubectl_json(
                    lab,
                    "lab-1",
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "istiod-gateway",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_some()
            );
            assert!(
                kubectl_json(
                    lab,
                    "lab-1",
                    &[
                        "get",
                        "virtualservices.networking.istio.io",
                        "istiod-vs",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_some()
            );
            check_remote_secret(lab, w, "lab-1", "west");
            assert!(
                kubectl_json(
                    lab,
                    "lab-2",
                    &[
                        "get",
                        "secret",
                        "istio-remote-secret-east",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_none(),
                "a remote reads nobody"
            );
            super::verified::a_remote_is_verified_and_a_missing_exposure_named(lab, w);
        },
    );
}

pub fn primary_remote_multi_network(lab: &Lab, untouched: &Untouched) {
    topology(
        lab,
        untouched,
        "meshID: mesh1\nistio: {cni: true}\nclusters:\n- {name: east, context: lab-1, network: network1, role: primary, eastWestAddress: 192.0.2.10}\n- {name: west, context: lab-2, network: network2, role: remote, primary: east}\n",
        |lab, w| {
            for ctx in ["lab-1", "lab-2"] {
                assert!(
                    kubectl_json(
                        lab,
                        ctx,
                        &[
                            "get",
                            "service",
                            "istio-eastwestgateway",
                            "-n",
                            "istio-system"
                        ]
                    )
                    .is_some()
                );
                let cni = kubectl_json(lab, ctx, &["get", "istiocnis.sailoperator.io", "default"])
                    .unwrap();
                assert_eq!(cni["spec"]["namespace"], "istio-cni");
            }
            assert!(
                kubectl_json(
                    lab,
                    "lab-1",
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "cross-network-gateway",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_some()
            );
            assert!(
                kubectl_json(
                    lab,
                    "lab-2",
                    &[
                        "get",
                        "gateways.networking.istio.io",
                        "cross-network-gateway",
                        "-n",
                        "istio-system"
                    ]
                )
                .is_none()
            );
            let role = kubectl_json(
                lab,
                "lab-2",
                &[
                    "get",
                    "clusterrole",
                    "istio-reader-clusterrole-istio-system",
                ],
            )
            .unwrap();
            assert!(
                role["rules"]
                    .to_string()
                    .contains("mutatingwebhookconfigurations"),
                "a remote's reader may patch its webhook"
            );
            check_remote_secret(lab, w, "lab-1", "west");
        },
    );
}
