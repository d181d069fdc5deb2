use super::*;
use serde_json::json;

/// The shape of Sail 1.30.3's `istios.sailoperator.io` (enum shortened).
fn crd(list: &[&str]) -> Value {
    json!({"spec": {"versions": [
        {"name": "v1alpha1", "served": false, "schema": {"openAPIV3Schema": {"properties": {"spec":
            {"properties": {"version": {"enum": ["v1.99.0"]}}}}}}},
        {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"properties":
            {"spec": {"properties": {"version": {"default": "v1.30.3", "enum": list}}}}}}}
    ]}})
}

fn served(context: &str, list: &[&str]) -> (String, Vec<String>) {
    (context.into(), served_versions(&crd(list)).unwrap())
}

/// Sail 1.30.3's field: the enum keeps end-of-life versions as valid input, the description
/// lists what the operator installs.
fn sail_field() -> Value {
    json!({"spec": {"versions": [{"name": "v1", "served": true, "schema": {"openAPIV3Schema":
        {"properties": {"spec": {"properties": {"version": {
            "default": "v1.30.3",
            "description": "Defines the version of Istio to install.\nMust be one of: v1.30-latest, v1.30.3, v1.28.0.",
            "enum": ["v1.30-latest", "v1.30.3", "v1.28.0", "v1.24.1", "v1.21.6"]}}}}}}}]}})
}

#[test]
fn end_of_life_versions_the_enum_keeps_are_not_installable() {
    let list = served_versions(&sail_field()).unwrap();
    assert_eq!(list, ["v1.30-latest", "v1.30.3", "v1.28.0"]);
    let lists = [("lab-1".to_string(), list)];
    let err = choose_version(Some("v1.24.1"), &lists)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("of the supported versions it installs v1.30.3, v1.30-latest"),
        "{err}"
    );
}

#[test]
fn the_served_enum_is_read_from_a_served_version_only() {
    assert_eq!(
        served_versions(&crd(&["v1.30.3", "v1.30-latest"])),
        Some(vec!["v1.30.3".to_string(), "v1.30-latest".to_string()])
    );
    assert_eq!(served_versions(&json!({"spec": {}})), None);
}

#[test]
fn an_unserved_version_is_refused_naming_the_context_and_what_it_installs() {
    let lists = [
        served("lab-1", &["v1.30.3", "v1.24.1"]),
        served("lab-2", &["v1.30.3", "v1.30.2"]),
    ];
    assert_eq!(choose_version(Some("v1.30.3"), &lists).unwrap(), "v1.30.3");
    let err = choose_version(Some("v1.24.1"), &lists).unwrap_err();
    assert!(matches!(err, Error::Input { .. }), "exit 2: {err:?}");
    let text = err.to_string();
    assert!(
        text.contains("context lab-2") && text.contains("v1.24.1"),
        "{text}"
    );
    assert!(
        text.contains("of the supported versions it installs v1.30.3, v1.30.2"),
        "{text}"
    );
    assert!(text.contains("end-of-life"), "{text}");
}

#[test]
fn unset_takes_the_newest_every_cluster_installs() {
    let lists = [
        served("lab-1", &["v1.30-latest", "v1.30.3", "v1.30.2"]),
        served("lab-2", &["v1.30-latest", "v1.30.2"]),
    ];
    assert_eq!(choose_version(None, &lists).unwrap(), "v1.30.2");
    assert_eq!(choose_version(None, &lists[..1]).unwrap(), "v1.30.3");
    assert_eq!(
        choose_version(None, &[]).unwrap(),
        crate::mesh::DEFAULT_ISTIO_VERSION
    );
    let apart = [served("a", &["v1.30.3"]), served("b", &["v1.31.0"])];
    assert!(matches!(
        choose_version(None, &apart),
        Err(Error::Input { .. })
    ));
}

mod against_fake_clusters {
    //! The trust gate and the version gate, decided against fake clusters.

    use super::super::{check_trust, resolve_version};
    use crate::app::fleet::Fleet;
    use crate::app::join::scope::Scope;
    use crate::app::join::test_support::{MULTI_NETWORK, block_on, fleet, mesh, options};
    use crate::ca::{Bundle, CertDir};
    use crate::cluster::fake::FakeCluster;
    use crate::error::Error;
    use crate::manifests::cacerts::cacerts_secret;
    use crate::names::ClusterName;
    use serde_json::json;

    /// A certificate directory with a root and intermediates for east and west.
    fn certs(tmp: &std::path::Path) -> CertDir {
        crate::test_support::cert_dir(tmp, &["east", "west"], time::OffsetDateTime::now_utc())
    }

    /// Puts `cluster`'s intermediate from `dir` into `fake` as `cacerts`.
    fn install(fake: &FakeCluster, dir: &CertDir, cluster: &str) {
        let bundle = Bundle::read_local(dir, &ClusterName::parse(cluster).unwrap()).unwrap();
        fake.insert(cacerts_secret(&bundle));
    }

    fn gate(opts: &crate::app::join::JoinOptions, fleet: &Fleet<FakeCluster>) -> Result<(), Error> {
        let scope = Scope::of(&opts.mesh, &[]).unwrap();
        block_on(check_trust(opts, &scope, fleet))
    }

    #[test]
    fn a_cluster_without_cacerts_is_refused_by_name_and_one_root_everywhere_passes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = certs(tmp.path());
        let opts = options(mesh(MULTI_NETWORK));
        let fleet = fleet(&opts.mesh);
        install(&fleet.kubes["east"], &dir, "east");
        let e = gate(&opts, &fleet).unwrap_err();
        assert!(matches!(e, Error::Input { .. }), "exit 2: {e:?}");
        let text = e.to_string();
        assert!(
            text.contains("nothing was changed")
                && text.contains("no istio-system/cacerts in context ctx-west"),
            "{text}"
        );
        assert!(!text.contains("ctx-east"), "east is in place: {text}");
        // Positive control: with west's intermediate in place the gate opens.
        install(&fleet.kubes["west"], &dir, "west");
        gate(&opts, &fleet).unwrap();
    }

    #[test]
    fn clusters_under_different_roots_are_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (root_a, root_b) = (certs(a.path()), certs(b.path()));
        let opts = options(mesh(MULTI_NETWORK));
        let fleet = fleet(&opts.mesh);
        install(&fleet.kubes["east"], &root_a, "east");
        install(&fleet.kubes["west"], &root_b, "west");
        let text = gate(&opts, &fleet).unwrap_err().to_string();
        assert!(text.contains("the mesh's trust is not ready"), "{text}");
        // Positive control: west under east's root passes.
        install(&fleet.kubes["west"], &root_a, "west");
        gate(&opts, &fleet).unwrap();
    }

    #[test]
    fn a_mesh_root_that_is_not_the_local_one_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (root_a, root_b) = (certs(a.path()), certs(b.path()));
        let mut opts = options(mesh(MULTI_NETWORK));
        let fleet = fleet(&opts.mesh);
        for name in ["east", "west"] {
            install(&fleet.kubes[name], &root_a, name);
        }
        opts.certs_dir = Some(root_b);
        let e = gate(&opts, &fleet).unwrap_err();
        assert!(
            e.to_string().contains("the mesh's trust is not ready"),
            "{e}"
        );
        // Positive control: the directory the clusters' root came from passes.
        opts.certs_dir = Some(root_a);
        gate(&opts, &fleet).unwrap();
    }

    #[test]
    fn stale_published_roots_are_istiods_to_rewrite_and_do_not_refuse() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (root_a, root_b) = (certs(a.path()), certs(b.path()));
        let opts = options(mesh(MULTI_NETWORK));
        let fleet = fleet(&opts.mesh);
        for name in ["east", "west"] {
            install(&fleet.kubes[name], &root_a, name);
        }
        // What an istiod that ran with another root published in one namespace of west.
        let other = std::fs::read_to_string(root_b.root_cert()).unwrap();
        fleet.kubes["west"].insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "istio-ca-root-cert", "namespace": "default"},
            "data": {"root-cert.pem": other}}));
        // The probe sees it: the trust report has it as an error of west (positive control).
        let observed = block_on(crate::app::trust::observe_trust(
            &fleet.kubes["west"],
            "west",
            time::OffsetDateTime::now_utc(),
            0,
        ))
        .unwrap();
        let report = crate::app::trust::judge_trust(&mut [observed], None);
        assert!(
            report.problems.iter().any(|p| p.subject == "west"
                && p.severity == crate::ca::Severity::Error
                && p.kind == crate::ca::ProblemKind::PublishedRoots),
            "{:?}",
            report.problems
        );
        // The gate lets the join run: istiod rewrites them once it runs with this cacerts.
        gate(&opts, &fleet).unwrap();
        // A refusal still stands beside it: west without cacerts is refused.
        let west = &fleet.kubes["west"];
        let gone = crate::cluster::Cluster::delete(
            west,
            "v1",
            "Secret",
            Some("istio-system"),
            "cacerts",
            false,
        );
        assert!(block_on(gone).unwrap());
        let e = gate(&opts, &fleet).unwrap_err().to_string();
        assert!(
            e.contains("no istio-system/cacerts in context ctx-west"),
            "{e}"
        );
    }

    /// The served `Istio` CRD listing `versions`.
    fn istio_crd(versions: &[&str]) -> serde_json::Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "istios.sailoperator.io"},
            "spec": {"versions": [{"name": "v1", "served": true, "schema": {"openAPIV3Schema":
                {"properties": {"spec": {"properties": {"version": {"enum": versions}}}}}}}]}})
    }

    #[test]
    fn the_version_gate_reads_each_clusters_crd_and_refuses_one_it_does_not_install() {
        let mut opts = options(mesh(MULTI_NETWORK));
        let fleet = fleet(&opts.mesh);
        fleet.kubes["east"].insert(istio_crd(&["v1.30.3", "v1.30.2"]));
        fleet.kubes["west"].insert(istio_crd(&["v1.30.2"]));
        let scope_mesh = opts.mesh.clone();
        let scope = Scope::of(&scope_mesh, &[]).unwrap();
        let printer = crate::render::Printer::to_writers(
            Box::new(std::io::sink()),
            Box::new(std::io::sink()),
        );
        let chosen = block_on(resolve_version(opts.clone(), &scope, &fleet, &printer)).unwrap();
        assert_eq!(chosen.mesh.istio.version.as_deref(), Some("v1.30.2"));
        opts.mesh.istio.version = Some("v1.30.3".into());
        let e = block_on(resolve_version(opts, &scope, &fleet, &printer)).unwrap_err();
        assert!(e.to_string().contains("context ctx-west"), "{e}");
    }
}
