//! The `status` table for people (JSON and YAML come from the same [`TrustStatus`]).

use super::status::{ClusterTrust, TrustStatus};
use crate::ca::Severity;
use crate::ca::bundle::{BundleReport, short};
use crate::error::Error;
use crate::render::{KubeTable, Printer, Tone};

type Cell = (String, Option<Tone>);

/// Prints the table on stdout and every problem (with its hint) on stderr.
pub(super) fn print_status(report: &TrustStatus, printer: &Printer) -> Result<(), Error> {
    printer.data(&status_table(report, printer))?;
    for p in &report.problems {
        let tag = if p.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        printer.warn(&format!(
            "{tag}: {}: {}\n  hint: {}",
            p.subject, p.message, p.hint
        ));
    }
    if let Some(r) = &report.rotation {
        printer.progress(&r.line());
    }
    if report.problems.is_empty() {
        printer.progress(&format!(
            "{} cluster(s) share root {}; every chain is valid",
            report.clusters.len(),
            report.mesh_root.as_deref().map(short).unwrap_or_default()
        ));
    }
    Ok(())
}

fn status_table(report: &TrustStatus, printer: &Printer) -> String {
    let mut table = KubeTable::new(
        &[
            "CLUSTER",
            "CONTEXT",
            "INTERMEDIATE",
            "NOT AFTER",
            "DAYS",
            "ROOT",
            "CHAIN",
            "CONFIGMAPS",
        ],
        printer.out_style(),
    );
    for c in &report.clusters {
        let row = match &c.cacerts {
            Some(r) => cacerts_row(c, r, report.mesh_root.as_deref()),
            None => missing_row(c),
        };
        table.toned_row(row);
    }
    table.render()
}

fn config_maps_cell(c: &ClusterTrust, toned: bool) -> Cell {
    let maps = &c.root_config_maps;
    let tone = (toned && maps.total > 0).then_some(if maps.mismatched.is_empty() {
        Tone::Good
    } else {
        Tone::Bad
    });
    (format!("{}/{}", maps.matching, maps.total), tone)
}

fn missing_row(c: &ClusterTrust) -> Vec<Cell> {
    let dash = || ("-".to_string(), None);
    vec![
        (c.cluster.clone(), None),
        (c.context.clone(), None),
        ("<no cacerts>".into(), Some(Tone::Bad)),
        dash(),
        dash(),
        dash(),
        dash(),
        config_maps_cell(c, false),
    ]
}

fn cacerts_row(c: &ClusterTrust, r: &BundleReport, mesh_root: Option<&str>) -> Vec<Cell> {
    let i = r.intermediate.as_ref();
    let root_ok = mesh_root.is_some_and(|m| r.roots.iter().any(|f| f == m));
    let good = |ok: bool| Some(if ok { Tone::Good } else { Tone::Bad });
    vec![
        (c.cluster.clone(), None),
        (c.context.clone(), None),
        (
            i.map(|i| i.subject.clone())
                .unwrap_or_else(|| "<unreadable>".into()),
            None,
        ),
        (i.map(|i| i.not_after.clone()).unwrap_or_default(), None),
        (
            i.map(|i| i.days_left.to_string()).unwrap_or_default(),
            i.and_then(|i| good(i.days_left >= 0)),
        ),
        (
            r.roots
                .iter()
                .map(|f| short(f))
                .collect::<Vec<_>>()
                .join(","),
            good(root_ok),
        ),
        (
            if r.chains { "valid" } else { "BROKEN" }.into(),
            good(r.chains),
        ),
        config_maps_cell(c, true),
    ]
}
