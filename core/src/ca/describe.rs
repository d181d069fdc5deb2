//! What a certificate says, as plain data: subject, issuer, serial, key, validity, fingerprint.

use crate::clock::days_until;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// A certificate described for people and programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// Subject DN (RFC 4514 style).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// Key algorithm and size, e.g. `RSA 4096`, `ECDSA P-256`.
    pub key: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days from now until `notAfter` (negative once expired).
    pub days_left: i64,
    /// SHA-256 fingerprint of the DER, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`).
    pub sha256: String,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// basicConstraints pathlen, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_len: Option<u32>,
    /// DNS and IP subject alternative names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
    /// End of validity, for computations (not serialised).
    #[serde(skip)]
    pub not_after_time: Option<OffsetDateTime>,
    /// Start of validity, for computations (not serialised).
    #[serde(skip)]
    pub not_before_time: Option<OffsetDateTime>,
}

/// SHA-256 fingerprint of DER bytes, `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn time_of(t: &x509_parser::time::ASN1Time) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn key_description(cert: &X509Certificate<'_>) -> String {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(ec)) => match ec.key_size() {
            256 => "ECDSA P-256".into(),
            384 => "ECDSA P-384".into(),
            521 => "ECDSA P-521".into(),
            n => format!("ECDSA {n}"),
        },
        Ok(_) => "other".into(),
        Err(_) => "unknown".into(),
    }
}

/// Describes a DER certificate as of `now`; `None` when it does not parse.
pub fn describe(der: &[u8], now: OffsetDateTime) -> Option<CertInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let not_before = time_of(&cert.validity().not_before);
    let not_after = time_of(&cert.validity().not_after);
    let (is_ca, path_len) = match cert.basic_constraints() {
        Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
        _ => (false, None),
    };
    let sans = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
                GeneralName::IPAddress(ip) => ip_text(ip).map(|ip| format!("IP:{ip}")),
                GeneralName::URI(u) => Some(format!("URI:{u}")),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        key: key_description(&cert),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left: days_until(now, not_after),
        sha256: fingerprint(der),
        is_ca,
        path_len,
        sans,
        not_after_time: Some(not_after),
        not_before_time: Some(not_before),
    })
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => {
            let a: [u8; 4] = bytes.try_into().ok()?;
            Some(std::net::Ipv4Addr::from(a).to_string())
        }
        16 => {
            let a: [u8; 16] = bytes.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(a).to_string())
        }
        _ => None,
    }
}

/// True when `child` names `issuer` as its issuer and carries `issuer`'s valid signature.
pub fn signed_by(child_der: &[u8], issuer_der: &[u8]) -> bool {
    let (Ok((_, child)), Ok((_, issuer))) = (
        X509Certificate::from_der(child_der),
        X509Certificate::from_der(issuer_der),
    ) else {
        return false;
    };
    child.issuer().to_string() == issuer.subject().to_string()
        && child.verify_signature(Some(issuer.public_key())).is_ok()
}
