//! `kubectl mesh-certs` commands.

use crate::ca::inspect::InspectReport;
use crate::ca::{self, CertDir, CreateOptions, Severity, create::Action};
use crate::clock::Clock;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::render::{KubeTable, OutputFormat, Printer, Tone};

/// `mesh-certs create`.
pub fn create(
    opts: &CreateOptions,
    clock: &dyn Clock,
    printer: &Printer,
    format: OutputFormat,
) -> Result<ExitStatus, Error> {
    let report = ca::create(opts, clock.now())?;
    if format != OutputFormat::Table {
        printer.serialized(format, &report)?;
    } else {
        let mut table = KubeTable::new(&["NAME", "ACTION", "NOT AFTER"], printer.out_style());
        table.row(&[
            "root".to_string(),
            action(report.root).into(),
            format!("sha256 {}", short(&report.root_sha256)),
        ]);
        for c in &report.clusters {
            table.row(&[c.name.clone(), action(c.action).into(), c.not_after.clone()]);
        }
        printer.data(&table.render())?;
    }
    if report.unchanged() {
        printer.progress(&format!(
            "nothing to do: {} already holds the root and these clusters (--force replaces them; kubectl mesh-certs rotate renews one)",
            report.dir
        ));
    } else {
        if let Some(backup) = &report.backup {
            printer.progress(&format!("replaced files were copied to {backup}"));
        }
        printer.progress(&format!(
            "the root key stays in {}; next: kubectl mesh-certs apply --dir {} --context CTX --cluster NAME",
            report.dir, report.dir
        ));
    }
    Ok(ExitStatus::Success)
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Created => "created",
        Action::Unchanged => "unchanged",
        Action::Replaced => "replaced",
        Action::Imported => "imported",
    }
}

pub use crate::ca::bundle::short;

/// `mesh-certs inspect`.
pub fn inspect(
    dir: &CertDir,
    warn_days: i64,
    clock: &dyn Clock,
    printer: &Printer,
    format: OutputFormat,
) -> Result<ExitStatus, Error> {
    let report = ca::inspect(dir, clock.now(), warn_days)?;
    match format {
        OutputFormat::Table => printer.data(&inspect_table(&report, printer))?,
        _ => printer.serialized(format, &report)?,
    }
    Ok(ExitStatus::problems_if(!report.problems.is_empty()))
}

/// The table `inspect` prints, with its problems and hints below.
pub fn inspect_table(report: &InspectReport, printer: &Printer) -> String {
    let style = printer.out_style();
    let mut table = KubeTable::new(
        &[
            "NAME",
            "SUBJECT",
            "KEY",
            "SERIAL",
            "NOT AFTER",
            "DAYS LEFT",
            "CHAIN",
            "ROOT SHA-256",
        ],
        style,
    );
    let days_tone = |subject: &str| {
        report
            .problems
            .iter()
            .find(|p| p.subject == subject)
            .map(|p| match p.severity {
                Severity::Error => Tone::Bad,
                Severity::Warning => Tone::Warn,
            })
    };
    table.toned_row(vec![
        ("root".into(), None),
        (report.root.subject.clone(), None),
        (report.root.key.clone(), None),
        (short(&report.root.serial), None),
        (report.root.not_after.clone(), None),
        (report.root.days_left.to_string(), days_tone("root")),
        ("-".into(), None),
        (short(&report.root.sha256), None),
    ]);
    for c in &report.clusters {
        let chain = if c.chain_valid {
            ("ok".to_string(), Some(Tone::Good))
        } else {
            ("BROKEN".to_string(), Some(Tone::Bad))
        };
        table.toned_row(vec![
            (c.name.clone(), None),
            (c.certificate.subject.clone(), None),
            (c.certificate.key.clone(), None),
            (short(&c.certificate.serial), None),
            (c.certificate.not_after.clone(), None),
            (c.certificate.days_left.to_string(), days_tone(&c.name)),
            chain,
            (short(&c.root_sha256), None),
        ]);
    }
    let mut out = table.render();
    if report.clusters.is_empty() {
        out.push_str("\nno cluster directories found; add one with kubectl mesh-certs create --clusters NAME\n");
    }
    for p in &report.problems {
        let (mark, tone) = match p.severity {
            Severity::Error => ("✖ error", Tone::Bad),
            Severity::Warning => ("‼ warning", Tone::Warn),
        };
        out.push_str(&format!(
            "\n{} {}: {}\n    hint: {}",
            style.paint(tone, mark),
            p.subject,
            p.message,
            p.hint
        ));
    }
    if !report.problems.is_empty() {
        out.push('\n');
    }
    out
}
