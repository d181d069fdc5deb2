//! Shell completion: clap's scripts for the binaries themselves, and kubectl's plugin
//! completion protocol, so `kubectl mesh-certs <TAB>` completes.
//!
//! kubectl (1.26+) completes a plugin's arguments by running `kubectl_complete-<plugin>` with
//! the words typed so far, the last one being the word to complete (maybe empty). The helper
//! prints one candidate per line, then `:<directive>` (cobra's protocol; 4 = no file
//! completion). Our helpers are two-line shims that run `kubectl-mesh_x __complete ARGS…`.

use clap::Command;

/// Cobra's `ShellCompDirectiveNoFileComp`.
pub const NO_FILE_COMP: u32 = 4;
/// Cobra's `ShellCompDirectiveDefault` (files may complete a flag value).
pub const DEFAULT: u32 = 0;

/// Candidates for `words` (the last one is being completed) and the directive.
pub fn complete(root: &Command, words: &[String]) -> (Vec<String>, u32) {
    let (current, typed) = match words.split_last() {
        Some((last, before)) => (before, last.as_str()),
        None => (&[][..], ""),
    };
    let mut cmd = root.clone();
    cmd.build();
    let mut cmd = &cmd;
    let mut expecting_value_for: Option<clap::Arg> = None;
    for w in current {
        if let Some(arg) = expecting_value_for.take() {
            let _ = arg;
            continue;
        }
        if let Some(name) = w.strip_prefix("--") {
            let name = name.split('=').next().unwrap_or_default();
            if w.contains('=') {
                continue;
            }
            if let Some(a) = cmd.get_arguments().find(|a| a.get_long() == Some(name))
                && a.get_action().takes_values()
                && a.get_num_args().is_none_or(|n| n.min_values() > 0)
            {
                expecting_value_for = Some(a.clone());
            }
        } else if let Some(short) = w.strip_prefix('-').and_then(|s| s.chars().next()) {
            if let Some(a) = cmd.get_arguments().find(|a| a.get_short() == Some(short))
                && a.get_action().takes_values()
                && w.len() == 2
            {
                expecting_value_for = Some(a.clone());
            }
        } else if let Some(sub) = cmd.find_subcommand(w) {
            cmd = sub;
        }
    }
    if let Some(arg) = expecting_value_for {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .filter(|v| v.starts_with(typed))
            .collect();
        return if values.is_empty() {
            (values, DEFAULT)
        } else {
            (values, NO_FILE_COMP)
        };
    }
    let mut out = Vec::new();
    if typed.starts_with('-') {
        for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(l) = a.get_long() {
                let flag = format!("--{l}");
                if flag.starts_with(typed) {
                    out.push(flag);
                }
            }
        }
    } else {
        for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if s.get_name().starts_with(typed) && s.get_name() != "help" {
                let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
                out.push(if about.is_empty() {
                    s.get_name().to_string()
                } else {
                    format!("{}\t{about}", s.get_name())
                });
            }
        }
    }
    (out, NO_FILE_COMP)
}

/// Handles `__complete` (kubectl's protocol) and `completion SHELL` before normal parsing.
/// Returns `Some(exit code)` when it handled the invocation.
pub fn intercept(root: Command, args: &[String]) -> Option<std::process::ExitCode> {
    match args.get(1).map(String::as_str) {
        Some("__complete") => {
            let (candidates, directive) = complete(&root, &args[2..]);
            let mut text = candidates.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            println!("{text}:{directive}");
            Some(std::process::ExitCode::SUCCESS)
        }
        Some("completion") => {
            let bin = root.get_name().to_string();
            match args.get(2) {
                Some(shell) => match print_script(shell, root, &bin) {
                    Ok(()) => Some(std::process::ExitCode::SUCCESS),
                    Err(e) => {
                        eprintln!(
                            "error: {e}\nhint: {}",
                            crate::hint::Hinted::hint(&e).unwrap_or_default()
                        );
                        Some(std::process::ExitCode::from(2))
                    }
                },
                None => {
                    eprintln!(
                        "error: completion needs a shell\nhint: {} completion bash|zsh|fish|powershell|elvish|kubectl",
                        bin
                    );
                    Some(std::process::ExitCode::from(2))
                }
            }
        }
        _ => None,
    }
}

/// The kubectl completion helper for the plugin binary `bin` (`kubectl-mesh_certs`).
pub fn kubectl_shim(bin: &str) -> String {
    format!(
        "#!/bin/sh\n# kubectl plugin completion helper: kubectl runs it to complete `kubectl {}`.\nexec {bin} __complete \"$@\"\n",
        plugin_word(bin)
    )
}

/// The helper's file name for a plugin binary: `kubectl-mesh_certs` → `kubectl_complete-mesh_certs`.
pub fn shim_name(bin: &str) -> String {
    bin.replacen("kubectl-", "kubectl_complete-", 1)
}

fn plugin_word(bin: &str) -> String {
    bin.trim_start_matches("kubectl-").replace('_', "-")
}

/// Writes `shell`'s completion script for `cmd` (installed as `bin`) to stdout; `kubectl`
/// prints the kubectl helper shim instead.
pub fn print_script(shell: &str, mut cmd: Command, bin: &str) -> Result<(), crate::Error> {
    use clap_complete::Shell;
    let shell = match shell {
        "kubectl" => {
            print!("{}", kubectl_shim(bin));
            return Ok(());
        }
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "powershell" => Shell::PowerShell,
        "elvish" => Shell::Elvish,
        other => {
            return Err(crate::Error::input(
                format!("unknown shell '{other}'"),
                "choose bash, zsh, fish, powershell, elvish, or kubectl (the kubectl plugin completion helper)",
            ));
        }
    };
    clap_complete::generate(shell, &mut cmd, bin, &mut std::io::stdout());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cli() -> Command {
        Command::new("kubectl-mesh_certs")
            .subcommand(
                Command::new("create")
                    .about("Create CAs")
                    .arg(
                        Arg::new("key-type")
                            .long("key-type")
                            .value_parser(["rsa-4096", "ecdsa-p256"]),
                    )
                    .arg(Arg::new("force").long("force").action(ArgAction::SetTrue)),
            )
            .subcommand(Command::new("inspect"))
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn completes_subcommands_flags_and_values() {
        let (c, d) = complete(&cli(), &words(&[""]));
        assert_eq!(c, ["create\tCreate CAs", "inspect"]);
        assert_eq!(d, NO_FILE_COMP);
        assert_eq!(complete(&cli(), &words(&["in"])).0, ["inspect"]);
        assert_eq!(
            complete(&cli(), &words(&["create", "--k"])).0,
            ["--key-type"]
        );
        assert_eq!(
            complete(&cli(), &words(&["create", "--key-type", "ec"])).0,
            ["ecdsa-p256"]
        );
        assert_eq!(
            complete(&cli(), &words(&["create", "--force", "--"])).0,
            ["--key-type", "--force", "--help"]
        );
        assert_eq!(
            shim_name("kubectl-mesh_certs"),
            "kubectl_complete-mesh_certs"
        );
        assert!(
            kubectl_shim("kubectl-mesh_certs")
                .contains("exec kubectl-mesh_certs __complete \"$@\"")
        );
    }
}
