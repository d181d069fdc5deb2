//! Wrappers that keep key material and tokens out of logs.
//!
//! A private key or a bearer token must never reach a log line, a panic message or a snapshot,
//! at any verbosity. Holding them in [`Secret`] makes `{:?}` print `Secret(<redacted N bytes>)`
//! instead of the bytes; code that needs the bytes asks for them by name with
//! [`Secret::expose`].

use std::fmt;

/// A secret value whose `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T: AsRef<[u8]>>(T);

impl<T: AsRef<[u8]>> Secret<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself: call sites that need it say so by name.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted {} bytes>)", self.0.as_ref().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new("-----BEGIN PRIVATE KEY-----\nMIIEvQ".to_string());
        let shown = format!("{s:?} {:?}", vec![s.clone()]);
        assert!(!shown.contains("BEGIN"), "{shown}");
        assert!(!shown.contains("MIIE"), "{shown}");
        assert!(shown.contains("redacted 34 bytes"), "{shown}");
        assert_eq!(s.expose(), "-----BEGIN PRIVATE KEY-----\nMIIEvQ");
    }
}
