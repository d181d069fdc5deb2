//! Running an installer: its output streamed under ours, line by line, named by cluster.

use crate::error::Error;
use crate::render::Printer;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Runs `program args`, printing each non-empty output line as `label: line`. A failure
/// names the command and its exit status (its output, above, says why).
pub async fn run_streamed(
    program: &Path,
    args: &[String],
    label: &str,
    printer: &Printer,
) -> Result<(), Error> {
    let shown = format!("{} {}", name(program), args.join(" "));
    printer.progress(&format!("{label}: running {shown}"));
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::input(
                format!("{label}: cannot start {}: {e}", program.display()),
                "check that the installer is executable",
            )
        })?;
    // Both streams are read to their end as they come (a full pipe would stall the tool).
    tokio::join!(
        pump(child.stdout.take(), label, printer),
        pump(child.stderr.take(), label, printer)
    );
    let status = child.wait().await.map_err(|e| {
        Error::input(
            format!("{label}: {shown}: {e}"),
            "run it by hand to see why",
        )
    })?;
    if status.success() {
        return Ok(());
    }
    Err(Error::input(
        format!("{label}: `{shown}` failed ({status}); its output is above"),
        "fix the cause and run the same mesh-join again: what is installed is kept",
    ))
}

/// Runs `program args` and returns its stdout (for version and list queries).
pub async fn output(program: &Path, args: &[&str]) -> Result<String, Error> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::input(
                format!("cannot run {}: {e}", program.display()),
                "check that the installer is executable",
            )
        })?;
    if !out.status.success() {
        return Err(Error::input(
            format!(
                "`{} {}` failed ({}): {}",
                name(program),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "run it by hand to see why",
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn pump<R: AsyncRead + Unpin>(stream: Option<R>, label: &str, printer: &Printer) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim_end();
        if !line.trim().is_empty() {
            printer.progress(&format!("{label}: {line}"));
        }
    }
}

fn name(program: &Path) -> String {
    program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.display().to_string())
}
