//! After a stage: watch every cluster's `istio-ca-root-cert` ConfigMaps until they carry the
//! bundle its `cacerts` now holds (istiod rewrites them once it reloads), or `--wait` ends.
//! Only what was observed gets a ✔; a cluster without any such ConfigMap is a failure that
//! says no istiod distributes trust there.

use super::run::RotateRootOptions;
use super::stages::{self, Spread};
use crate::cluster::Cluster;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::labels::ROOT_CERT_CONFIGMAP;
use crate::render::Printer;
use std::time::{Duration, Instant};

async fn observe(kube: &impl Cluster, want: &[String]) -> Result<Spread, Error> {
    let maps = kube
        .list_selected(
            "v1",
            "ConfigMap",
            None,
            None,
            Some(&format!("metadata.name={ROOT_CERT_CONFIGMAP}")),
        )
        .await?;
    Ok(stages::spread(&maps, want))
}

/// Polls until every cluster's ConfigMaps carry `after[i]`, then reports each cluster.
pub(super) async fn await_spread<C: Cluster>(
    opts: &RotateRootOptions,
    kubes: &[C],
    after: &[Vec<String>],
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let deadline = Instant::now() + opts.wait;
    let spreads = loop {
        let mut spreads = Vec::new();
        for (kube, want) in kubes.iter().zip(after) {
            spreads.push(observe(kube, want).await?);
        }
        let done = spreads
            .iter()
            .all(|s| matches!(s, Spread::Everywhere { .. }));
        if done || Instant::now() >= deadline {
            break spreads;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut late = Vec::new();
    for (m, s) in opts.members.iter().zip(&spreads) {
        let line = format!("{} (context {}): {}", m.cluster, m.context, s.describe());
        if matches!(s, Spread::Everywhere { .. }) {
            printer.progress(&format!("✔ {line}"));
        } else {
            late.push(format!("✖ {line}"));
        }
    }
    if late.is_empty() {
        printer.progress(&format!(
            "rotate-root {}: every istiod has distributed the bundle{}",
            opts.stage.as_str(),
            next_step(opts.stage)
        ));
        return Ok(ExitStatus::Success);
    }
    printer.error(&Error::Input {
        message: format!(
            "rotate-root {}: cacerts is written, but the bundle is not distributed after {}:\n{}\nthe next stage refuses until it is",
            opts.stage.as_str(),
            crate::cli::format_duration(opts.wait),
            late.join("\n")
        ),
        hint: Some("istiod accepts a changed root-cert.pem only with ISTIO_MULTIROOT_MESH=true; check istiod runs in those clusters (or restart it), then run this stage again to watch (it writes nothing more)".into()),
    });
    Ok(ExitStatus::Problems)
}

fn next_step(stage: super::state::Stage) -> &'static str {
    use super::state::Stage;
    match stage {
        Stage::Prepare => "",
        Stage::TrustBoth => "; next: kubectl mesh-certs rotate-root reissue",
        Stage::Reissue => {
            "; next, once workload certificates have renewed (24h by default, or restart the workloads): kubectl mesh-certs rotate-root finish"
        }
        Stage::Finish => "; the rotation is complete",
    }
}
