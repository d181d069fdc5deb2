//! `kubectl mesh-join`: join clusters into one Istio mesh in any of the four topologies, and
//! leave it. All logic lives in `mesh-core`.

mod args;

use clap::{CommandFactory, Parser};
use mesh_core::ExitStatus;
use mesh_core::render::Printer;

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(code) = mesh_core::completion::intercept(args::Cli::command(), &argv) {
        return code;
    }
    let cli = args::Cli::parse();
    let printer = Printer::terminal();
    let status = match cli.run(&printer) {
        Ok(status) => status,
        Err(e) if e.is_broken_pipe() => ExitStatus::Success,
        Err(e) => {
            printer.error(&e);
            ExitStatus::Failure
        }
    };
    status.into()
}
