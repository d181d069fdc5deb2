//! The crate's layers, checked on its source text.
//!
//! - The certificate authority, the mesh file, names, kubeconfig (and its gate) and rendering
//!   are pure: they never reach a cluster or a command (`crate::cluster`, `crate::app`).
//! - The checks of `mesh-verify` never import a command (`crate::app`).
//! - `mesh-join` and `rotate-credentials` share what both need through modules below them
//!   (`app::fleet`, `app::tokens`), never through each other.
//!
//! Every line of every `.rs` file in scope is scanned, test code included; only lines that are
//! comments (`//`, `///`, `//!`) are skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// Files in `scope` (paths relative to `core/src`: a file, or a folder and everything under it)
/// must not contain any of `forbidden`.
struct Rule {
    scope: &'static [&'static str],
    forbidden: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        scope: &[
            "ca",
            "mesh",
            "names.rs",
            "kubeconfig.rs",
            "kubeconfig_tests.rs",
            "kubeconfig_gate",
            "render",
        ],
        forbidden: &[
            "crate::cluster",
            "super::cluster",
            "crate::app",
            "super::app",
        ],
    },
    Rule {
        scope: &["checks"],
        forbidden: &["crate::app", "super::app"],
    },
    Rule {
        scope: &["app/join"],
        forbidden: &["app::credentials", "super::credentials"],
    },
    Rule {
        scope: &["app/credentials"],
        forbidden: &["app::join", "super::join"],
    },
];

/// Each line of `files` (path, text) that uses one of `forbidden`, as `path:line: text`;
/// comment lines are skipped.
fn offending(files: &[(String, String)], forbidden: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(f) = forbidden.iter().find(|f| code.contains(**f)) {
                out.push(format!("{path}:{}: {} (uses {f})", n + 1, code.trim_end()));
            }
        }
    }
    out
}

/// Whether `path` is the file `scope` or lies under the folder `scope`.
fn in_scope(path: &str, scope: &str) -> bool {
    path == scope || path.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
}

/// Every rule applied to `tree`; a scope that matches no file is reported too (a renamed
/// module must not make its rule pass by scanning nothing).
fn violations(tree: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for rule in RULES {
        for scope in rule.scope {
            let files: Vec<(String, String)> = tree
                .iter()
                .filter(|(p, _)| in_scope(p, scope))
                .cloned()
                .collect();
            if files.is_empty() {
                out.push(format!("{scope}: no such file or folder under core/src"));
            }
            out.extend(offending(&files, rule.forbidden));
        }
    }
    out
}

/// Every `.rs` file under `dir`, as (path relative to `root` with `/`, text).
fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path.strip_prefix(root).unwrap();
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((rel.join("/"), text));
        }
    }
}

fn source_tree() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    read_tree(&root, &root, &mut out);
    assert!(
        out.iter().any(|(p, _)| p == "lib.rs"),
        "core/src was not read"
    );
    out
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn a_forbidden_import_is_reported_and_comments_are_not() {
    let tree = files(&[
        (
            "ca/issue.rs",
            "//! Issuing (no cluster: not crate::cluster).\nuse super::CaError;\nuse crate::cluster::Kube;\n",
        ),
        (
            "ca/store.rs",
            "use std::path::Path;\n\n#[cfg(test)]\nmod tests {\n    use crate::app::join::Installer;\n}\n",
        ),
    ]);
    let found = offending(&tree, &["crate::cluster", "crate::app"]);
    assert_eq!(
        found,
        [
            "ca/issue.rs:3: use crate::cluster::Kube; (uses crate::cluster)",
            "ca/store.rs:5: use crate::app::join::Installer; (uses crate::app)",
        ],
    );
    assert!(offending(&tree, &["crate::mesh"]).is_empty());
}

#[test]
fn every_rule_catches_its_forbidden_imports_in_its_scope() {
    let tree = files(&[
        ("ca/mod.rs", "use crate::cluster::Kube;"),
        (
            "mesh/rules.rs",
            "    let k = super::super::cluster::Kube::new();",
        ),
        ("names.rs", "use crate::app::join;"),
        ("kubeconfig.rs", "use crate::cluster::ClusterError;"),
        ("kubeconfig_tests.rs", "use crate::app::trust::Access;"),
        ("kubeconfig_gate/client.rs", "use crate::cluster::Kube;"),
        ("render/table.rs", "use crate::app::verify;"),
        (
            "checks/tests/file.rs",
            "use super::super::super::app::trust;",
        ),
        ("app/join/tokens.rs", "use crate::app::credentials::record;"),
        (
            "app/join/leave.rs",
            "use super::super::credentials::observe;",
        ),
        (
            "app/credentials/run.rs",
            "use crate::app::join::desired::as_data;",
        ),
        ("app/credentials/mod.rs", "use super::join::fleet::Fleet;"),
        // Out of every scope: allowed.
        ("app/trust/status.rs", "use crate::cluster::Kube;"),
        ("app/rotation/stages.rs", "use crate::app::join::fleet;"),
    ]);
    let found = violations(&tree);
    let reported: Vec<&str> = found.iter().map(|v| v.split(':').next().unwrap()).collect();
    assert_eq!(
        reported,
        [
            "ca/mod.rs",
            "mesh/rules.rs",
            "names.rs",
            "kubeconfig.rs",
            "kubeconfig_tests.rs",
            "kubeconfig_gate/client.rs",
            "render/table.rs",
            "checks/tests/file.rs",
            "app/join/tokens.rs",
            "app/join/leave.rs",
            "app/credentials/run.rs",
            "app/credentials/mod.rs",
        ],
        "{found:#?}"
    );
}

#[test]
fn a_forbidden_import_added_to_the_real_tree_is_reported() {
    let mut tree = source_tree();
    let ca = tree.iter_mut().find(|(p, _)| p == "ca/mod.rs").unwrap();
    ca.1.push_str("\nuse crate::cluster::Kube;\n");
    let found = violations(&tree);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("ca/mod.rs:"), "{found:#?}");
}

#[test]
fn a_renamed_module_does_not_pass_by_scanning_nothing() {
    let tree = files(&[("lib.rs", "pub mod ca;")]);
    let found = violations(&tree);
    assert!(
        found.contains(&"ca: no such file or folder under core/src".to_string()),
        "{found:#?}"
    );
}

#[test]
fn the_crate_keeps_its_layers() {
    let found = violations(&source_tree());
    assert!(
        found.is_empty(),
        "imports across layers (see the rules at the top of core/tests/layering.rs):\n{}",
        found.join("\n")
    );
}
