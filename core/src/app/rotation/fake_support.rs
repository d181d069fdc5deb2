//! What the rotation's unit tests share: a certificate directory with a prepared rotation,
//! east and west as fake clusters holding their `cacerts`, and istiod's spread of the trust
//! bundle played by the test (the fake runs no istiod).

use super::local;
use super::run::{RotateRootOptions, check_named, run_stage};
use super::stages::{self, Standing};
use super::state::{self, Stage};
use crate::app::trust::Member;
use crate::ca::CertDir;
use crate::ca::bundle::Bundle;
use crate::cli::DryRun;
use crate::cluster::fake::FakeCluster;
use crate::cluster::field_manager;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use crate::manifests::cacerts::cacerts_secret;
use crate::names::ClusterName;
use crate::render::OutputFormat;
use serde_json::json;
use std::time::Duration;

/// The time every stage runs at.
pub fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-12-07 10:00 UTC)
}

/// Namespaces whose `istio-ca-root-cert` istiod keeps.
pub const NAMESPACES: [&str; 2] = ["default", ISTIO_NAMESPACE];

/// A mesh of east and west under one root, `prepare` done, each cluster's `cacerts` as
/// `mesh-certs apply` wrote it and spread by istiod.
pub struct Mesh {
    /// The certificate directory.
    pub dir: CertDir,
    /// east, then west.
    pub fakes: Vec<FakeCluster>,
    _tmp: tempfile::TempDir,
}

fn name(c: &str) -> ClusterName {
    ClusterName::parse(c).unwrap()
}

impl Mesh {
    /// See the type.
    pub fn new() -> Mesh {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::test_support::cert_dir(tmp.path(), &["east", "west"], now());
        local::prepare(&dir, now(), true).unwrap();
        let mut fakes = Vec::new();
        for c in ["east", "west"] {
            let fake = FakeCluster::new(&format!("ctx-{c}"));
            fake.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}));
            let bundle = Bundle::read_local(&dir, &name(c)).unwrap();
            fake.insert_applied(field_manager(), cacerts_secret(&bundle));
            fakes.push(fake);
        }
        let mesh = Mesh {
            dir,
            fakes,
            _tmp: tmp,
        };
        for i in 0..2 {
            mesh.spread(i);
        }
        mesh
    }

    /// Cluster `i`'s fake (0: east, 1: west).
    pub fn fake(&self, i: usize) -> &FakeCluster {
        &self.fakes[i]
    }

    /// Cluster `i`'s live `cacerts`.
    pub fn live(&self, i: usize) -> Option<Bundle> {
        let s = self.fakes[i].object("v1", "Secret", Some(ISTIO_NAMESPACE), CACERTS_SECRET)?;
        Some(Bundle::from_secret("fake", &s))
    }

    /// Where cluster `i` stands between the rotation's roots.
    pub fn standing(&self, i: usize) -> Standing {
        let record = state::read(&self.dir).unwrap().unwrap();
        let (old, new) = local::roots(&self.dir, &record).unwrap();
        stages::standing(self.live(i).as_ref(), &old, &new)
    }

    /// istiod of cluster `i` spreads the roots its `cacerts` holds to every namespace.
    pub fn spread(&self, i: usize) {
        let roots = self.live(i).unwrap();
        let pem = String::from_utf8(roots.get("root-cert.pem").unwrap().to_vec()).unwrap();
        for ns in NAMESPACES {
            self.fakes[i].insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CERT_CONFIGMAP, "namespace": ns},
                "data": {"root-cert.pem": pem}}));
        }
    }

    /// Forgets every cluster's logged writes.
    pub fn clear_writes(&self) {
        self.fakes.iter().for_each(FakeCluster::clear_writes);
    }

    /// Every cluster's logged writes, east then west.
    pub fn written(&self) -> Vec<Vec<String>> {
        self.fakes.iter().map(FakeCluster::written).collect()
    }

    /// The last stage the record on disk says was written.
    pub fn recorded(&self) -> Stage {
        state::read(&self.dir).unwrap().unwrap().stage
    }

    /// `rotate-root stage` over the clusters `which` (a range of east, west), as the command
    /// runs once connected; `ttl` is `--workload-cert-ttl`; stderr is returned.
    pub fn run(
        &self,
        stage: Stage,
        which: std::ops::Range<usize>,
        ttl: Duration,
    ) -> (Result<ExitStatus, Error>, String) {
        let members = ["east", "west"][which.clone()]
            .iter()
            .map(|c| Member {
                cluster: name(c),
                context: format!("ctx-{c}"),
                network: None,
            })
            .collect();
        let opts = RotateRootOptions {
            dir: self.dir.clone(),
            members,
            stage,
            dry_run: DryRun::None,
            wait: Duration::ZERO,
            workload_cert_ttl: ttl,
            include_secrets: false,
            format: OutputFormat::Table,
        };
        let (printer, err) = crate::test_support::captured_printer();
        let result = (|| {
            let record = state::read(&self.dir)?.unwrap();
            check_named(&opts, &record)?;
            let material = local::material(&self.dir, &record, stage)?;
            let kubes = &self.fakes[which];
            block_on(run_stage(&opts, record, &material, kubes, now(), &printer))
        })();
        (result, err.text())
    }
}

pub use crate::test_support::block_on;
