//! Reading PEM files: certificates (one or a bundle) and private keys in PKCS#1, PKCS#8 or SEC1.
//!
//! Every error names the file, so "corrupt PEM" is never a mystery.

use super::CaError;
use crate::secret::Secret;
use rcgen::KeyPair;
use std::path::Path;

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, CaError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| CaError::BadPem {
            path: path.to_path_buf(),
            reason: "the file is not text (PEM files are ASCII)".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CaError::Missing {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(CaError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Every `CERTIFICATE` block of a PEM text, as DER; at least one, and each must parse as X.509.
pub fn certificates(path: &Path, text: &str) -> Result<Vec<Vec<u8>>, CaError> {
    let bad = |reason: String| CaError::BadPem {
        path: path.to_path_buf(),
        reason,
    };
    let blocks = pem::parse_many(text).map_err(|e| bad(format!("not valid PEM: {e}")))?;
    let mut ders = Vec::new();
    for block in blocks {
        if block.tag() != "CERTIFICATE" {
            return Err(bad(format!(
                "expected CERTIFICATE blocks, found '{}'",
                block.tag()
            )));
        }
        x509_parser::parse_x509_certificate(block.contents()).map_err(|e| {
            bad(format!(
                "a CERTIFICATE block is not a valid X.509 certificate: {e}"
            ))
        })?;
        ders.push(block.contents().to_vec());
    }
    if ders.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    Ok(ders)
}

/// Exactly one certificate.
pub fn single_certificate(path: &Path, text: &str) -> Result<Vec<u8>, CaError> {
    let mut ders = certificates(path, text)?;
    if ders.len() != 1 {
        return Err(CaError::BadPem {
            path: path.to_path_buf(),
            reason: format!("expected one certificate, found {}", ders.len()),
        });
    }
    Ok(ders.remove(0))
}

/// A private key (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
pub fn private_key(path: &Path, text: &Secret<String>) -> Result<KeyPair, CaError> {
    let bad = |reason: &str| CaError::BadPem {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    let block = pem::parse(text.expose()).map_err(|_| bad("not a PEM private key"))?;
    if !matches!(
        block.tag(),
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
    ) {
        return Err(bad(
            "expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block",
        ));
    }
    KeyPair::from_pem(text.expose())
        .map_err(|_| bad("the private key cannot be parsed (unsupported or corrupt key)"))
}

/// True when `key` is the private half of the certificate's public key.
pub fn key_matches(key: &KeyPair, cert_der: &[u8]) -> bool {
    match x509_parser::parse_x509_certificate(cert_der) {
        Ok((_, cert)) => cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw(),
        Err(_) => false,
    }
}

/// PEM text of one DER certificate, with `\n` line endings (as openssl writes them).
pub fn to_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn certificates_use_unix_line_endings() {
        let text = super::to_pem(&[1, 2, 3]);
        assert!(!text.contains('\r'), "{text:?}");
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
    }
}
