//! The version every plugin prints: the crate version and the git revision it was built from.

/// `0.1.0 (git abc123def456)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("MESH_GIT_REVISION"),
    ")"
);
