//! Waiting for the control planes the Sail operator reconciles.

use super::fleet::{Fleet, istio_api_version};
use super::scope::Scope;
use super::{Installer, JoinOptions};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::manifests::istio;
use crate::render::Printer;
use serde_json::Value;
use std::time::{Duration, Instant};

/// True when an `Istio` reports `Ready=True`.
pub fn is_ready(istio: &Value) -> bool {
    istio["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Waits for `Istio/default` to be Ready in every selected cluster (Sail installer only).
pub async fn wait_ready(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    if opts.no_wait || opts.installer != Installer::Sail {
        return Ok(ExitStatus::Success);
    }
    let deadline = Instant::now() + opts.wait_timeout;
    let mut pending: Vec<String> = scope.selected.iter().map(|c| c.name.clone()).collect();
    printer.progress(&format!(
        "waiting up to {}s for Istio/default to be Ready in {} (the Sail operator reconciles it; --no-wait skips this)",
        opts.wait_timeout.as_secs(),
        pending.join(", ")
    ));
    loop {
        let mut still = Vec::new();
        for name in pending {
            let k = fleet.kube(&name)?;
            let api = istio_api_version(k).await?;
            let live = k
                .get(&api, "Istio", None, istio::CONTROL_PLANE_NAME)
                .await?;
            if live.as_ref().is_some_and(is_ready) {
                printer.progress(&format!("{name}: Istio/default is Ready"));
            } else {
                still.push(name);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(ExitStatus::Success);
        }
        if Instant::now() > deadline {
            printer.warn(&format!(
                "not Ready after {}s: {} — is the Sail operator running there? (kubectl get istio default -o yaml shows its conditions)",
                opts.wait_timeout.as_secs(),
                pending.join(", ")
            ));
            return Ok(ExitStatus::Problems);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ready_true_is_ready() {
        assert!(is_ready(&json!({"status": {"conditions": [
            {"type": "Reconciled", "status": "True"}, {"type": "Ready", "status": "True"}]}})));
        assert!(!is_ready(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        ));
        assert!(!is_ready(&json!({"spec": {}})));
    }
}
