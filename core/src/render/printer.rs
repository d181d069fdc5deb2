//! [`Printer`]: data to stdout, everything else to stderr.

use super::style::{Style, Tone};
use crate::error::Error;
use crate::hint::Hinted;
use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;

/// How a report is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
}

/// Writes reports to stdout and progress/diagnostics to stderr.
///
/// Holds its streams as trait objects so tests can capture both.
pub struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    err: Mutex<Box<dyn Write + Send>>,
    out_style: Style,
    err_style: Style,
    quiet: bool,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("out_style", &self.out_style)
            .field("err_style", &self.err_style)
            .field("quiet", &self.quiet)
            .finish()
    }
}

impl Printer {
    /// The process's own stdout and stderr, colour detected per stream.
    pub fn terminal() -> Self {
        Printer {
            out: Mutex::new(Box::new(std::io::stdout())),
            err: Mutex::new(Box::new(std::io::stderr())),
            out_style: Style::for_stdout(),
            err_style: Style::for_stderr(),
            quiet: false,
        }
    }

    /// Custom streams without colour (tests).
    pub fn to_writers(out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Printer {
            out: Mutex::new(out),
            err: Mutex::new(err),
            out_style: Style::plain(),
            err_style: Style::plain(),
            quiet: false,
        }
    }

    /// Suppresses progress lines (warnings and errors still print).
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// The style of stdout, for renderers that colour tables.
    pub fn out_style(&self) -> Style {
        self.out_style
    }

    /// Writes `text` to stdout as is (a rendered table, a manifest).
    pub fn data(&self, text: &str) -> Result<(), Error> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(text.as_bytes()).map_err(Error::Output)?;
        if !text.ends_with('\n') && !text.is_empty() {
            out.write_all(b"\n").map_err(Error::Output)?;
        }
        out.flush().map_err(Error::Output)
    }

    /// Serialises `value` as JSON or YAML to stdout.
    pub fn serialized<T: Serialize>(&self, format: OutputFormat, value: &T) -> Result<(), Error> {
        let text = match format {
            OutputFormat::Json | OutputFormat::Table => serde_json::to_string_pretty(value)
                .map_err(|e| Error::Output(std::io::Error::other(e)))?,
            OutputFormat::Yaml => {
                yaml_serde::to_string(value).map_err(|e| Error::Output(std::io::Error::other(e)))?
            }
        };
        self.data(&text)
    }

    /// A progress line on stderr (`quiet` hides it).
    pub fn progress(&self, line: &str) {
        if !self.quiet {
            self.stderr_line(line);
        }
    }

    /// A warning on stderr.
    pub fn warn(&self, line: &str) {
        let tag = self.err_style.paint(Tone::Warn, "warning:");
        self.stderr_line(&format!("{tag} {line}"));
    }

    /// An error with its causes and hint, on stderr.
    pub fn error(&self, error: &Error) {
        let tag = self.err_style.paint(Tone::Bad, "error:");
        let mut text = format!("{tag} {error}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let line = cause.to_string();
            if !text.contains(&line) {
                text.push_str(&format!("\n  caused by: {line}"));
            }
            source = cause.source();
        }
        if let Some(hint) = error.hint() {
            let tag = self.err_style.paint(Tone::Good, "hint:");
            text.push_str(&format!("\n{tag} {hint}"));
        }
        self.stderr_line(&text);
    }

    fn stderr_line(&self, line: &str) {
        let mut err = self.err.lock().unwrap_or_else(|p| p.into_inner());
        // stderr failing leaves nothing to report to; ignore like every CLI does.
        let _ = writeln!(err, "{line}");
        let _ = err.flush();
    }
}
