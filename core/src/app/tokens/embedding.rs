//! What a reader's remote secret for a source embeds: the API server it names and its token.

use crate::secret::Secret;

/// A reader's remote secret for the source: the API server it names and its token.
#[derive(Debug, Clone, Default)]
pub struct Embedding {
    /// The server of its kubeconfig's current context (shown, never written back: a rewrite
    /// uses the server the mesh file or the user's kubeconfig gives).
    pub server: String,
    /// The inline token of its current context (empty for any other credential).
    pub token: Secret<String>,
}

/// The server and token inside a remote secret's kubeconfig for `source` (`None`: no such
/// key). The kubeconfig passes the gate for untrusted kubeconfigs first: one it refuses embeds
/// nothing usable (empty server and token), so it counts as another credential and is
/// rewritten, never used.
pub fn embedding(secret: &serde_json::Value, source: &str) -> Option<Embedding> {
    let text = crate::kubeconfig_gate::secret_text(secret, source)?;
    let admitted = text
        .ok()
        .and_then(|t| crate::kubeconfig_gate::admit(&t).ok());
    Some(match admitted {
        Some(a) => Embedding {
            token: Secret::new(a.token().unwrap_or_default().to_string()),
            server: a.server,
        },
        None => Embedding::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::{as_data, remote_secret};

    #[test]
    fn the_server_and_token_are_read_back_from_a_remote_secret_as_join_writes_it() {
        let kc = remote_secret::kubeconfig("east", "https://10.0.0.1:6443", "Q0E=", "tok-1");
        let s = as_data(remote_secret::remote_secret("east", &kc));
        let e = embedding(&s, "east").unwrap();
        assert_eq!(e.server, "https://10.0.0.1:6443");
        assert_eq!(e.token.expose(), "tok-1");
        assert!(embedding(&s, "west").is_none());
        // A kubeconfig the gate refuses is present but embeds nothing usable.
        let exec = kc.replace("token: tok-1", "exec: {command: /bin/sh}");
        assert_ne!(exec, kc, "the probe must have changed the kubeconfig");
        let e = embedding(
            &as_data(remote_secret::remote_secret("east", &exec)),
            "east",
        )
        .unwrap();
        assert!(e.server.is_empty() && e.token.expose().is_empty(), "{e:?}");
    }
}
