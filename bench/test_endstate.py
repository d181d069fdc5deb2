"""Unit tests of the end-state comparison: python3 -m unittest discover -s bench"""

import base64
import json
import unittest

import endstate


def jwt(sub):
    body = base64.urlsafe_b64encode(json.dumps({"sub": sub}).encode()).decode().rstrip("=")
    return f"e30.{body}.sig"


def gateway_service(network, uid="1", extra_label=None):
    labels = {"app": "istio-eastwestgateway", "topology.istio.io/network": network}
    if extra_label:
        labels[extra_label] = "x"
    return {"kind": "Service", "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system",
                                            "uid": uid, "labels": labels},
            "spec": {"type": "LoadBalancer", "clusterIP": f"10.0.0.{uid}", "selector": {"app": "istio-eastwestgateway"},
                     "ports": [{"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP", "nodePort": 30000 + int(uid)}]}}


class EndState(unittest.TestCase):
    def test_same_objects_from_two_labs_compare_equal(self):
        a = endstate.normalise([gateway_service("network1", uid="1")])
        b = endstate.normalise([gateway_service("network1", uid="2")])
        self.assertEqual(endstate.diff_lines(a, b), [])

    def test_a_key_field_difference_is_reported_on_both_sides(self):
        a = endstate.normalise([gateway_service("network1")])
        b = endstate.normalise([gateway_service("network2")])
        d = endstate.diff_lines(a, b)
        self.assertEqual([x[0] for x in d], ["-", "+"])
        self.assertIn("network1", d[0])
        self.assertIn("network2", d[1])

    def test_a_missing_object_is_a_difference(self):
        a = endstate.normalise([gateway_service("network1")])
        self.assertEqual(endstate.diff_lines(a, []), [f"- {a[0]}"])

    def test_details_outside_key_fields_are_listed_not_gated(self):
        a, b = gateway_service("network1", uid="1"), gateway_service("network1", uid="2", extra_label="release")
        self.assertEqual(endstate.diff_lines(endstate.normalise([a]), endstate.normalise([b])), [])
        self.assertEqual(endstate.detail_diff([a], [b]),
                         {"Service/istio-system/istio-eastwestgateway": ["metadata.labels.release"]})

    def test_rbac_rules_compare_as_grants_whatever_their_grouping(self):
        one = {"kind": "ClusterRole", "metadata": {"name": "r"},
               "rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]}]}
        split = {"kind": "ClusterRole", "metadata": {"name": "r"},
                 "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list", "get"]},
                           {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
        more = json.loads(json.dumps(one))
        more["rules"][0]["verbs"].append("watch")
        self.assertEqual(endstate.normalise([one]), endstate.normalise([split]))
        self.assertNotEqual(endstate.normalise([one]), endstate.normalise([more]))

    def test_remote_secret_kubeconfig_is_compared_by_what_it_stands_for(self):
        ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n").decode()
        cfg = {"current-context": "c2", "clusters": [{"name": "c2", "cluster": {"server": "https://127.0.0.1:4001",
                                                                                 "certificate-authority-data": ca}}],
               "users": [{"name": "c2", "user": {"token": jwt("system:serviceaccount:istio-system:istio-reader-service-account")}}]}
        servers, cas = {"https://127.0.0.1:4001": "lab-2"}, {endstate.pem_key(ca): "lab-2's CA"}
        got = endstate.kubeconfig_fields(cfg, servers, cas)
        self.assertEqual(got["clusters"], [{"name": "c2", "server": "lab-2", "ca": "lab-2's CA"}])
        self.assertEqual(got["users"], [{"name": "c2", "token of": "istio-system/istio-reader-service-account"}])
        self.assertNotIn("token", json.dumps(got["users"][0]).replace("token of", ""))
        other = endstate.kubeconfig_fields(cfg, {}, {})
        self.assertEqual(other["clusters"][0]["server"], "unknown server")

    def test_controller_made_objects_count_by_owner_not_by_hashed_name(self):
        def rs(name):
            return {"kind": "ReplicaSet", "metadata": {"name": name, "namespace": "istio-system",
                                                       "ownerReferences": [{"kind": "Deployment", "name": "gw"}]}}
        self.assertEqual(endstate.normalise([rs("gw-abc")]), endstate.normalise([rs("gw-def")]))

    def test_pods_count_by_their_deployment_whatever_the_template_hash(self):
        def pod(rs):
            return {"kind": "Pod", "metadata": {"name": f"{rs}-x1", "namespace": "istio-system",
                                                "ownerReferences": [{"kind": "ReplicaSet", "name": rs}]}}
        self.assertEqual(endstate.normalise([pod("gw-57599df7c9")]), endstate.normalise([pod("gw-5cfd5c9fcd")]))
        # Positive control: a pod of another Deployment differs.
        self.assertNotEqual(endstate.normalise([pod("gw-57599df7c9")]), endstate.normalise([pod("other-57599df7c9")]))

    def test_helm_release_history_is_not_compared(self):
        def release(v):
            return {"kind": "Secret", "type": "helm.sh/release.v1",
                    "metadata": {"name": f"sh.helm.release.v1.default-istiod.v{v}", "namespace": "istio-system"}}
        self.assertEqual(endstate.normalise([release(7)]), [])
        opaque = {"kind": "Secret", "type": "Opaque", "metadata": {"name": "s", "namespace": "istio-system"}}
        self.assertEqual(len(endstate.normalise([opaque])), 1)

    def test_events_are_not_compared(self):
        ev = {"kind": "Event", "metadata": {"name": "x", "namespace": "istio-system"}}
        self.assertEqual(endstate.normalise([ev]), [])

    def test_unreadable_token_is_marked_not_hidden(self):
        self.assertEqual(endstate.jwt_subject("not-a-jwt"), "?")


if __name__ == "__main__":
    unittest.main()
