//! What the rotation's unit tests share: two primaries that read each other as fake
//! clusters, each reader credential at a given generation, and a scripted istiod.

use super::RotateCredentialsOptions;
use super::sync::SyncWatch;
use crate::app::fleet::Fleet;
use crate::app::tokens::record::TokenRecord;
use crate::cluster::fake::FakeCluster;
use crate::cluster::{Cluster, field_manager};
use crate::labels::{ISTIO_NAMESPACE, READER_SERVICE_ACCOUNT, READER_TOKEN_ANNOTATION};
use crate::manifests::{as_data, remote_secret};
use crate::mesh::MeshSpec;
use base64::Engine as _;
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Two primaries on one network; each reads the other at the API server the file names.
pub const TWO_PRIMARIES: &str = "meshID: m\nclusters:\n  - {name: east, context: ctx-east, network: n1, role: primary, apiServer: 'https://east.example:6443'}\n  - {name: west, context: ctx-west, network: n1, role: primary, apiServer: 'https://west.example:6443'}\n";

/// The CA a remote secret embeds beside the token (base64), as the fake publishes none.
pub const CA: &str = "Q0E=";

pub use crate::test_support::block_on;

/// `rotate-credentials` of `only` in [`TWO_PRIMARIES`], writing, not waiting.
pub fn options(only: &[&str]) -> RotateCredentialsOptions {
    RotateCredentialsOptions {
        mesh: MeshSpec::parse(TWO_PRIMARIES, Path::new("mesh.yaml")).unwrap(),
        mesh_file: "mesh.yaml".into(),
        only: only.iter().map(|s| s.to_string()).collect(),
        dry_run: false,
        again: false,
        timeout: Duration::ZERO,
        istiod_addresses: Default::default(),
        no_istiod_restart: false,
        token_ttl: None,
    }
}

/// [`options`] with `--again`: a finished generation is rotated once more.
pub fn again(only: &[&str]) -> RotateCredentialsOptions {
    RotateCredentialsOptions {
        again: true,
        ..options(only)
    }
}

/// East and west, empty but for `istio-system`.
pub fn fleet() -> Fleet<FakeCluster> {
    let fleet =
        Fleet::of(["east", "west"].map(|c| (c.to_string(), FakeCluster::new(&format!("ctx-{c}")))));
    for fake in fleet.kubes.values() {
        fake.insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}),
        );
    }
    fleet
}

/// `source`'s reader ServiceAccount carrying `record`.
pub fn record(fake: &FakeCluster, record: &TokenRecord) {
    fake.insert(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": READER_SERVICE_ACCOUNT, "namespace": ISTIO_NAMESPACE,
            "annotations": {READER_TOKEN_ANNOTATION: record.to_annotation()}}}));
}

/// The record on `fake`'s reader ServiceAccount.
pub fn recorded(fake: &FakeCluster) -> TokenRecord {
    let sa = fake
        .object(
            "v1",
            "ServiceAccount",
            Some(ISTIO_NAMESPACE),
            READER_SERVICE_ACCOUNT,
        )
        .unwrap();
    crate::app::tokens::record::of_service_account(&sa).unwrap()
}

/// The long-lived token Secret of `generation` as the controller manager fills it with `token`
/// (the fake runs no controller: a test fills a Secret before the run that waits for it).
pub fn filled_token(fake: &FakeCluster, generation: u32, token: &str) {
    let name = remote_secret::token_secret_name_of(generation);
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    fake.insert(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ISTIO_NAMESPACE},
        "data": {"ca.crt": CA, "token": b64}}));
}

/// `reader`'s remote secret for `source` embedding `token`, as a join (our field manager)
/// wrote it.
pub fn remote_secret_in(reader: &FakeCluster, source: &str, token: &str) {
    let server = format!("https://{source}.example:6443");
    let kubeconfig = remote_secret::kubeconfig(source, &server, CA, token);
    reader.insert_applied(
        field_manager(),
        as_data(remote_secret::remote_secret(source, &kubeconfig)),
    );
}

/// The token `reader`'s remote secret for `source` embeds (`None`: no such secret).
pub fn embedded(reader: &FakeCluster, source: &str) -> Option<String> {
    let name = format!("istio-remote-secret-{source}");
    let s = reader.object("v1", "Secret", Some(ISTIO_NAMESPACE), &name)?;
    Some(
        crate::app::tokens::embedding(&s, source)?
            .token
            .expose()
            .clone(),
    )
}

/// An `app=istiod` Deployment running `image`; with `rolls`, its status already reports the
/// next generation complete (the fake runs no controller), so a restart by a merge patch of
/// its template finishes at once; without, a restart never finishes.
pub fn istiod(fake: &FakeCluster, image: &str, rolls: bool) {
    let observed = if rolls { 2 } else { 1 };
    fake.insert(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": ISTIO_NAMESPACE, "labels": {"app": "istiod"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "discovery", "image": image}]}}},
        "status": {"observedGeneration": observed, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}));
}

/// istiod as a test scripts it: the readers named in `late` never confirm; every call is
/// remembered as `source: reader, …`.
#[derive(Default)]
pub struct Istiods {
    /// Readers whose istiod does not confirm.
    pub late: Vec<String>,
    /// The calls so far.
    pub asked: Mutex<Vec<String>>,
}

impl Istiods {
    /// Every istiod confirms.
    pub fn confirming() -> Self {
        Istiods::default()
    }

    /// `reader`'s istiod does not confirm.
    pub fn late(reader: &str) -> Self {
        Istiods {
            late: vec![reader.into()],
            ..Istiods::default()
        }
    }

    /// The calls so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl<C: Cluster> SyncWatch<C> for Istiods {
    fn await_synced(
        &self,
        source: &str,
        readers: &[(String, &C)],
        _timeout: Duration,
    ) -> impl Future<Output = Vec<String>> {
        let names: Vec<&str> = readers.iter().map(|(n, _)| n.as_str()).collect();
        self.asked
            .lock()
            .unwrap()
            .push(format!("{source}: {}", names.join(", ")));
        let late = names
            .iter()
            .filter(|n| self.late.iter().any(|l| l == *n))
            .map(|n| format!("{n}: istiod reports {source} syncing"))
            .collect();
        std::future::ready(late)
    }
}
