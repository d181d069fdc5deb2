//! The registry: every check id as a type (a wrong id does not compile), its category, its
//! severity, its prerequisites and what it proves. Report order is declaration order.

use serde::Serialize;

/// Where the checks are documented.
pub const DOCS: &str = "docs/checks.md";

/// A check's category, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Could every cluster be read?
    Cluster,
    /// Before a join: can it work here?
    Pre,
    /// The mesh's certificates.
    Trust,
    /// A mesh built the Istio 1.4–1.7 way.
    Legacy,
    /// The control planes.
    ControlPlane,
    /// Gateways and exposure.
    Network,
    /// Remote secrets and what they grant.
    RemoteAccess,
    /// istiod's own view.
    Istiod,
    /// istiod's registry: network gateways and endpoints from every cluster.
    Discovery,
    /// Requests across clusters.
    Traffic,
}

impl Category {
    /// The stable name, as in JSON (`control-plane`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Cluster => "cluster",
            Category::Pre => "pre",
            Category::Trust => "trust",
            Category::Legacy => "legacy",
            Category::ControlPlane => "control-plane",
            Category::Network => "network",
            Category::RemoteAccess => "remote-access",
            Category::Istiod => "istiod",
            Category::Discovery => "discovery",
            Category::Traffic => "traffic",
        }
    }

    /// Heading in the table.
    pub fn title(self) -> &'static str {
        match self {
            Category::Cluster => "clusters",
            Category::Pre => "pre-join",
            Category::Trust => "trust",
            Category::Legacy => "legacy multicluster",
            Category::ControlPlane => "control plane",
            Category::Network => "network",
            Category::RemoteAccess => "remote access",
            Category::Istiod => "istiod",
            Category::Discovery => "discovery",
            Category::Traffic => "traffic",
        }
    }
}

/// A check's outcome (semantics in `docs/checks.md`, "Results").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Observed, and correct.
    Pass,
    /// Works, but worth attention; or not observed where the user opted out.
    Warn,
    /// Broken, or not observed (the message names the cluster, the request and the cause).
    Fail,
    /// Not evaluated: a prerequisite failed or what it reads could not be read (the message
    /// says which; that failure is in the same report).
    Skip,
    /// Does not apply to this mesh (a remote runs no istiod; one network needs no network
    /// gateway): left out of the table unless asked, no metric series, no Event.
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// A registered check.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    /// Stable id.
    pub id: CheckId,
    /// Category.
    pub category: Category,
    /// What it proves.
    pub description: &'static str,
    /// Ids that must pass first (otherwise this one is skipped, naming the failed one).
    pub requires: &'static [CheckId],
    /// Whether a problem is an error (`fail`) or only a warning (`warn`).
    pub severity: Outcome,
}

impl CheckInfo {
    /// The docs anchor of the check.
    pub fn docs(&self) -> String {
        format!("{DOCS}#{}", self.id.as_str().replace('.', ""))
    }
}

macro_rules! checks {
    ($($var:ident = $id:literal, $cat:ident, $sev:ident, [$($req:ident),*], $desc:literal;)*) => {
        /// Every check id. Serialised as its stable string (`trust.shared-root`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId {
            $(#[doc = $desc] $var),*
        }

        /// Every check, in report order (the order of [`CheckId`]).
        pub const CHECKS: &[CheckInfo] = &[$(CheckInfo {
            id: CheckId::$var,
            category: Category::$cat,
            description: $desc,
            requires: &[$(CheckId::$req),*],
            severity: Outcome::$sev,
        }),*];

        impl CheckId {
            /// The stable id.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$var => $id),*
                }
            }
        }
    };
}

checks! {
    ClusterFacts = "cluster.facts", Cluster, Fail, [], "every request that reads the cluster's facts succeeded";
    PreReachable = "pre.reachable", Pre, Fail, [], "every context's API server answers";
    PreKubernetesVersion = "pre.kubernetes-version", Pre, Fail, [PreReachable], "the Kubernetes version is one the mesh's Istio version supports";
    PreUniqueNames = "pre.unique-names", Pre, Fail, [], "cluster names and kube contexts are unique";
    PreSailCrds = "pre.sail-crds", Pre, Warn, [PreReachable], "the Sail operator's Istio API is served";
    PreMultus = "pre.multus", Pre, Fail, [PreReachable], "the Multus CRD is served where the CNI configuration needs it";
    PrePermissions = "pre.permissions", Pre, Fail, [PreReachable], "the user may create what mesh-join creates";
    PreKernel = "pre.kernel", Pre, Warn, [PreReachable], "nodes run a kernel of 4.11 or later (gateways need it)";
    PreLoadBalancer = "pre.load-balancer", Pre, Warn, [PreReachable], "east-west gateways can get an external address";
    TrustCacertsPresent = "trust.cacerts-present", Trust, Fail, [], "istio-system/cacerts holds all four files";
    TrustChainValid = "trust.chain-valid", Trust, Fail, [TrustCacertsPresent], "the intermediate chains to a root of root-cert.pem and its key matches";
    TrustSharedRoot = "trust.shared-root", Trust, Fail, [TrustCacertsPresent], "every cluster trusts one common root (and the local root of the certs folder)";
    TrustExpiry = "trust.expiry", Trust, Warn, [TrustCacertsPresent], "no certificate expired or expiring within --warn-days";
    TrustRootKeyAbsent = "trust.root-key-absent", Trust, Fail, [TrustCacertsPresent], "no root private key is stored in the cluster";
    TrustRootConfigmap = "trust.root-configmap", Trust, Fail, [TrustCacertsPresent], "istio-ca-root-cert ConfigMaps carry the roots of cacerts";
    LegacyGlobalDns = "legacy.global-dns", Legacy, Warn, [], "no mesh built the Istio 1.4-1.7 way (.global names, istiocoredns)";
    ControlPlaneIstioReady = "control-plane.istio-ready", ControlPlane, Fail, [], "Istio/default is reconciled and Ready";
    ControlPlaneRole = "control-plane.role", ControlPlane, Fail, [], "each cluster runs the control plane of its role in the mesh file (primary or remote)";
    ControlPlaneIstiodPods = "control-plane.istiod-pods", ControlPlane, Fail, [], "istiod pods are Running and Ready where istiod runs";
    ControlPlaneCniReady = "control-plane.cni-ready", ControlPlane, Fail, [], "IstioCNI/default is reconciled and Ready where the mesh uses CNI";
    ControlPlaneRemoteAnnotation = "control-plane.control-plane-clusters", ControlPlane, Fail, [], "a remote's istio-system names its primary in topology.istio.io/controlPlaneClusters";
    ControlPlaneMeshId = "control-plane.mesh-id", ControlPlane, Fail, [], "values.global.meshID is the same everywhere";
    ControlPlaneClusterNames = "control-plane.cluster-names", ControlPlane, Fail, [], "cluster names are unique and match the remote-secret keys";
    ControlPlaneNetworkLabel = "control-plane.network-label", ControlPlane, Fail, [], "the istio-system network label equals values.global.network";
    ControlPlaneVersionSkew = "control-plane.version-skew", ControlPlane, Warn, [], "control planes run the same Istio minor version";
    NetworkEastwestService = "network.eastwest-service", Network, Fail, [], "the east-west gateway Service exists with its ports and an address";
    NetworkEastwestPods = "network.eastwest-pods", Network, Fail, [], "the east-west gateway Deployment runs its current generation, every replica available, its pods carrying the injected proxy";
    NetworkCrossNetworkGateway = "network.cross-network-gateway", Network, Fail, [], "the cross-network Gateway serves 15443 AUTO_PASSTHROUGH for *.local on the gateway pods";
    NetworkExposeIstiod = "network.expose-istiod", Network, Fail, [], "istiod is exposed to remotes on 15012 and 15017 (Gateway + VirtualService)";
    RemoteSecretPresent = "remote.secret-present", RemoteAccess, Fail, [], "the reading cluster holds a well-formed remote secret for its peer";
    RemoteKubeconfig = "remote.kubeconfig", RemoteAccess, Fail, [RemoteSecretPresent], "the remote secret's kubeconfig passes the gate for untrusted kubeconfigs (inline server, CA and credential only)";
    RemoteServerAddress = "remote.server-address", RemoteAccess, Fail, [RemoteKubeconfig], "the API server address is not loopback";
    RemoteCredentials = "remote.credentials", RemoteAccess, Fail, [RemoteKubeconfig], "the credentials authenticate against the peer and carry the reader permissions";
    RemoteCredentialExpiry = "remote.credential-expiry", RemoteAccess, Fail, [RemoteKubeconfig], "the remote secret's credential has not expired and has more than a third of its life left (bound tokens, client certificates)";
    RemoteUniqueClaims = "remote.unique-claims", RemoteAccess, Fail, [], "no two remote secrets claim one cluster";
    IstiodRemoteClustersSynced = "istiod.remote-clusters-synced", Istiod, Fail, [ControlPlaneIstiodPods], "istiod reports every remote cluster synced (/debug/clusterz)";
    DiscoveryNetworkGateways = "discovery.network-gateways", Discovery, Fail, [ControlPlaneIstiodPods], "istiod knows a routable gateway for every other network (/debug/networkz)";
    DiscoveryEndpoints = "discovery.endpoints", Discovery, Fail, [ControlPlaneIstiodPods], "istiod holds the --service's endpoints from every cluster running it, each with its network (/debug/endpointShardz)";
    TrafficCrossCluster = "traffic.cross-cluster", Traffic, Fail, [], "requests from each cluster reach every cluster's workloads (--traffic)";
}

impl CheckId {
    /// Every id, in report order.
    pub fn all() -> impl Iterator<Item = CheckId> {
        CHECKS.iter().map(|c| c.id)
    }

    /// The registry entry.
    pub fn info(self) -> &'static CheckInfo {
        // The registry is built from the enum in declaration order (a unit test checks it).
        &CHECKS[self as usize]
    }

    /// The id for a stable string, `None` for an unknown one.
    pub fn parse(s: &str) -> Option<CheckId> {
        CheckId::all().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Looks a check up by its stable string.
pub fn info(id: &str) -> Option<&'static CheckInfo> {
    CheckId::parse(id).map(CheckId::info)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = include_str!("../../../docs/checks.md");

    fn prefix(c: Category) -> &'static str {
        match c {
            Category::Cluster => "cluster.",
            Category::Pre => "pre.",
            Category::Trust => "trust.",
            Category::Legacy => "legacy.",
            Category::ControlPlane => "control-plane.",
            Category::Network => "network.",
            Category::RemoteAccess => "remote.",
            Category::Istiod => "istiod.",
            Category::Discovery => "discovery.",
            Category::Traffic => "traffic.",
        }
    }

    #[test]
    fn the_registry_is_in_enum_order_and_ids_are_unique() {
        for (i, c) in CHECKS.iter().enumerate() {
            assert_eq!(c.id as usize, i, "{}", c.id);
            assert_eq!(CheckId::parse(c.id.as_str()), Some(c.id));
            assert!(c.id.as_str().starts_with(prefix(c.category)), "{}", c.id);
        }
        assert_eq!(CheckId::parse("trust.no-such-check"), None);
    }

    #[test]
    fn every_typed_id_has_a_docs_section_with_its_outcomes() {
        let sections: Vec<&str> = DOC.split("\n### ").skip(1).collect();
        for id in CheckId::all() {
            let body = sections
                .iter()
                .find(|s| s.lines().next().map(str::trim) == Some(id.as_str()))
                .unwrap_or_else(|| panic!("docs/checks.md has no section '### {id}'"));
            let problem = if id.info().severity == Outcome::Warn {
                "warn"
            } else {
                "fail"
            };
            for outcome in ["pass", problem, "skip"] {
                assert!(
                    body.contains(&format!("\n- {outcome}: ")),
                    "the section of {id} lists no '- {outcome}:' condition"
                );
            }
        }
        for s in &sections {
            let title = s.lines().next().unwrap_or_default().trim();
            assert!(
                info(title).is_some(),
                "docs/checks.md documents '{title}', which is no check"
            );
        }
    }
}
