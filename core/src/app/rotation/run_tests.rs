//! Each stage of `rotate-root` against fake clusters: its decision from the clusters' live
//! `cacerts` and `istio-ca-root-cert` ConfigMaps, what it refuses (each refusal with the state
//! it accepts) and what it writes.

use super::fake_support::{Mesh, block_on};
use super::local::roots;
use super::stages::{Standing, issued_by};
use super::state::{RootCert, Stage, read};
use crate::ca::bundle::Bundle;
use crate::cluster::{Cluster, field_manager};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::manifests::cacerts::cacerts_secret;
use crate::names::ClusterName;
use std::time::Duration;

const BOTH: std::ops::Range<usize> = 0..2;
const DAY: Duration = Duration::from_secs(86_400);
const CACERTS: &str = "apply Secret istio-system/cacerts";

/// A refusal's message and hint.
fn refusal(result: Result<ExitStatus, Error>) -> (String, String) {
    match result {
        Err(Error::Input { message, hint }) => (message, hint.unwrap_or_default()),
        other => panic!("not refused: {other:?}"),
    }
}

/// `stage` on both clusters, then istiod spreads the new bundle in both.
fn reach(m: &Mesh, stage: Stage) {
    let (result, err) = m.run(stage, BOTH, Duration::ZERO);
    assert!(result.is_ok(), "{err}");
    m.spread(0);
    m.spread(1);
    m.clear_writes();
}

#[test]
fn trust_both_adds_the_new_root_everywhere_and_a_rerun_once_spread_writes_nothing() {
    let m = Mesh::new();
    assert_eq!(
        (m.standing(0), m.standing(1)),
        (Standing::OldOnly, Standing::OldOnly)
    );
    let (result, err) = m.run(Stage::TrustBoth, BOTH, DAY);
    // Written, but istiod has not spread the bundle yet (the fake runs none): said, exit 1.
    assert_eq!(result.unwrap(), ExitStatus::Problems);
    assert!(
        err.contains("cacerts is written, but the bundle is not distributed"),
        "{err}"
    );
    assert_eq!(m.written(), [[CACERTS], [CACERTS]]);
    assert_eq!(
        (m.standing(0), m.standing(1)),
        (Standing::TrustBoth, Standing::TrustBoth)
    );
    assert_eq!(m.recorded(), Stage::TrustBoth);
    // Once spread, the same stage writes nothing and reports success (the writes above are
    // the control that the log sees them).
    m.spread(0);
    m.spread(1);
    m.clear_writes();
    let (result, err) = m.run(Stage::TrustBoth, BOTH, DAY);
    assert_eq!(result.unwrap(), ExitStatus::Success, "{err}");
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
    assert!(
        err.contains("every istiod has distributed the bundle"),
        "{err}"
    );
}

#[test]
fn trust_both_refuses_a_cluster_without_cacerts_and_writes_nowhere() {
    let m = Mesh::new();
    let west_cacerts = m.live(1).unwrap();
    block_on(
        m.fake(1)
            .delete("v1", "Secret", Some("istio-system"), "cacerts", false),
    )
    .unwrap();
    m.clear_writes();
    let (result, _) = m.run(Stage::TrustBoth, BOTH, DAY);
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("cluster 'west' (context ctx-west): istio-system/cacerts does not exist"),
        "{e}"
    );
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
    assert_eq!(m.recorded(), Stage::Prepare);
    // Control: with west's cacerts back, both are written.
    m.fake(1)
        .insert_applied(field_manager(), cacerts_secret(&west_cacerts));
    let (result, _) = m.run(Stage::TrustBoth, BOTH, DAY);
    assert_eq!(result.unwrap(), ExitStatus::Problems, "written, not spread");
    assert_eq!(m.written(), [[CACERTS], [CACERTS]]);
}

#[test]
fn reissue_refuses_until_every_cluster_spread_the_bundle_then_issues_under_the_new_root() {
    let m = Mesh::new();
    let (result, _) = m.run(Stage::TrustBoth, BOTH, DAY);
    assert_eq!(result.unwrap(), ExitStatus::Problems);
    m.spread(0);
    m.clear_writes();
    let (result, _) = m.run(Stage::Reissue, BOTH, DAY);
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains(
            "cluster 'west' (context ctx-west): 0/2 istio-ca-root-cert ConfigMaps carry the bundle"
        ) && !e.contains("cluster 'east'"),
        "{e}"
    );
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
    assert_eq!(m.recorded(), Stage::TrustBoth);
    // Control: spread in west too, each cluster gets an intermediate under the new root, on
    // disk and in the cluster; the ConfigMaps already carry both roots.
    m.spread(1);
    let (result, err) = m.run(Stage::Reissue, BOTH, DAY);
    assert_eq!(result.unwrap(), ExitStatus::Success, "{err}");
    assert_eq!(m.written(), [[CACERTS], [CACERTS]]);
    assert_eq!(
        (m.standing(0), m.standing(1)),
        (Standing::Reissued, Standing::Reissued)
    );
    let record = read(&m.dir).unwrap().unwrap();
    let (_, new) = roots(&m.dir, &record).unwrap();
    for (i, c) in ["east", "west"].iter().enumerate() {
        let files = Bundle::read_local(&m.dir, &ClusterName::parse(c).unwrap()).unwrap();
        assert!(
            files.same_files(&m.live(i).unwrap()),
            "{c}: disk and cluster agree"
        );
        assert!(issued_by(&files.intermediate_der().unwrap(), &new), "{c}");
    }
    assert_eq!(
        (record.stage, record.reissued.is_some()),
        (Stage::Reissue, true)
    );
}

#[test]
fn reissue_refuses_a_cluster_that_trusts_only_the_old_root() {
    let m = Mesh::new();
    // trust-both ran on east only.
    let (result, _) = m.run(Stage::TrustBoth, 0..1, DAY);
    assert_eq!(result.unwrap(), ExitStatus::Problems);
    m.spread(0);
    m.clear_writes();
    let (e, hint) = refusal(m.run(Stage::Reissue, BOTH, DAY).0);
    assert!(
        e.contains(
            "cluster 'west' (context ctx-west): istio-system/cacerts trusts only the old root"
        ) && !e.contains("cluster 'east'"),
        "{e}"
    );
    assert!(hint.contains("rotate-root trust-both first"), "{hint}");
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
    // Control: trust-both on west, then reissue takes both.
    reach(&m, Stage::TrustBoth);
    let (result, _) = m.run(Stage::Reissue, BOTH, DAY);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(m.written(), [[CACERTS], [CACERTS]]);
}

#[test]
fn finish_waits_for_workload_certificates_then_drops_the_old_root_everywhere() {
    let m = Mesh::new();
    reach(&m, Stage::TrustBoth);
    reach(&m, Stage::Reissue);
    let (e, hint) = refusal(m.run(Stage::Finish, BOTH, DAY).0);
    assert!(
        e.contains("workload certificates signed by the old ones may live 24h more"),
        "{e}"
    );
    assert!(hint.contains("--workload-cert-ttl"), "{hint}");
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
    let record = read(&m.dir).unwrap().unwrap();
    // Control: certificates that renew at once (--workload-cert-ttl 0) let finish write.
    let (result, _) = m.run(Stage::Finish, BOTH, Duration::ZERO);
    assert_eq!(result.unwrap(), ExitStatus::Problems, "written, not spread");
    assert_eq!(m.written(), [[CACERTS], [CACERTS]]);
    assert_eq!(
        (m.standing(0), m.standing(1)),
        (Standing::Finished, Standing::Finished)
    );
    assert_eq!(
        m.live(0).unwrap().root_fingerprints(),
        vec![record.new_root.clone()]
    );
    let root = RootCert::read(&m.dir.root_cert()).unwrap();
    assert_eq!(
        root.sha256, record.new_root,
        "the new root is the mesh root on disk"
    );
    // Spread: the same stage again writes nothing.
    m.spread(0);
    m.spread(1);
    m.clear_writes();
    let (result, _) = m.run(Stage::Finish, BOTH, Duration::ZERO);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
}

#[test]
fn finish_refuses_a_cluster_whose_intermediate_is_still_under_the_old_root() {
    let m = Mesh::new();
    reach(&m, Stage::TrustBoth);
    let west_before = m.live(1).unwrap();
    reach(&m, Stage::Reissue);
    // Someone put west's trust-both cacerts back.
    m.fake(1)
        .insert_applied(field_manager(), cacerts_secret(&west_before));
    let (e, hint) = refusal(m.run(Stage::Finish, BOTH, Duration::ZERO).0);
    assert!(
        e.contains("cluster 'west' (context ctx-west): istio-system/cacerts holds an intermediate signed by the old root")
            && !e.contains("cluster 'east'"),
        "{e}"
    );
    assert!(hint.contains("rotate-root reissue first"), "{hint}");
    assert_eq!(m.written(), [[""; 0], [""; 0]]);
    // Control: reissue again writes west only (east is already there), then finish takes both.
    let (result, _) = m.run(Stage::Reissue, BOTH, Duration::ZERO);
    assert_eq!(result.unwrap(), ExitStatus::Success);
    assert_eq!(m.written(), [vec![], vec![CACERTS]]);
    m.clear_writes();
    let (result, _) = m.run(Stage::Finish, BOTH, Duration::ZERO);
    assert!(result.is_ok());
    assert_eq!(m.written(), [[CACERTS], [CACERTS]]);
}
