//! Issuing certificates from the profiles: a self-signed root and per-cluster intermediates.
//!
//! Keys are generated in parallel (RSA-4096 prime search dominates the run time of
//! `mesh-certs create`), one worker per core.

use super::profile::{CaSettings, INTERMEDIATE, KeyType, Profile, ROOT};
use super::{CaError, pem as pemfile};
use crate::names::ClusterName;
use crate::secret::Secret;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType, SerialNumber,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::{Duration, OffsetDateTime};

/// Backdating of `notBefore`, so a certificate is valid on a cluster whose clock runs a little behind.
const BACKDATE: Duration = Duration::minutes(5);

/// A CA that can sign: its certificate and its key.
pub struct SigningCa {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key.
    pub key: KeyPair,
    /// The certificate's end of validity.
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for SigningCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCa")
            .field("cert_der", &format_args!("<{} bytes>", self.cert_der.len()))
            .field("key", &"<redacted>")
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl SigningCa {
    /// The key as PEM (PKCS#8), kept secret.
    pub fn key_pem(&self) -> Secret<String> {
        Secret::new(self.key.serialize_pem())
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pemfile::to_pem(&self.cert_der)
    }
}

/// Generates `count` keys of `key_type`, in parallel across the machine's cores.
pub fn generate_keys(key_type: KeyType, count: usize) -> Result<Vec<KeyPair>, CaError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<KeyPair, rcgen::Error>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let key = key_type.generate();
                    slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(key);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|slot| match slot {
            Some(Ok(key)) => Ok(key),
            Some(Err(source)) => Err(CaError::Generate {
                what: format!("{key_type:?} key"),
                source,
            }),
            None => Err(CaError::Generate {
                what: format!("{key_type:?} key"),
                source: rcgen::Error::KeyGenerationUnavailable,
            }),
        })
        .collect()
}

fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CaError::Generate {
        what: format!("serial number ({e})"),
        source: rcgen::Error::KeyGenerationUnavailable,
    })?;
    bytes[0] &= 0x7f; // a positive INTEGER
    bytes[0] |= 0x40; // and a fixed length
    Ok(SerialNumber::from_slice(&bytes))
}

fn params(
    profile: &Profile,
    settings: &CaSettings,
    locality: Option<&ClusterName>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, settings.organization.as_str());
    params
        .distinguished_name
        .push(DnType::CommonName, profile.common_name);
    if let (true, Some(cluster)) = (profile.locality_is_cluster, locality) {
        params
            .distinguished_name
            .push(DnType::LocalityName, cluster.as_str());
    }
    params.is_ca = IsCa::Ca(match profile.path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = profile.key_usages.to_vec();
    params.use_authority_key_identifier_extension = profile.authority_key_id;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    if profile.locality_is_cluster {
        let sans = profile
            .dns_sans
            .iter()
            .map(|s| s.to_string())
            .chain(settings.extra_sans.iter().cloned());
        for san in sans {
            params.subject_alt_names.push(parse_san(&san)?);
        }
    }
    Ok(params)
}

/// A SAN given on the command line: an IP address or a DNS name.
pub fn parse_san(text: &str) -> Result<SanType, CaError> {
    if let Ok(ip) = text.parse() {
        return Ok(SanType::IpAddress(ip));
    }
    let name = text
        .try_into()
        .map_err(|_| CaError::InvalidSan(text.to_string()))?;
    Ok(SanType::DnsName(name))
}

/// Issues a self-signed root with `key`.
pub fn issue_root(
    settings: &CaSettings,
    key: KeyPair,
    now: OffsetDateTime,
) -> Result<SigningCa, CaError> {
    let not_after = now + Duration::days(i64::from(settings.root_days));
    let params = params(&ROOT, settings, None, now - BACKDATE, not_after)?;
    let cert = params
        .self_signed(&key)
        .map_err(|source| CaError::Generate {
            what: "root certificate".into(),
            source,
        })?;
    Ok(SigningCa {
        cert_der: cert.der().to_vec(),
        key,
        not_after,
    })
}

/// Issues `cluster`'s intermediate under `root`; never valid past the root's own end.
pub fn issue_intermediate(
    cluster: &ClusterName,
    settings: &CaSettings,
    key: KeyPair,
    root: &SigningCa,
    now: OffsetDateTime,
) -> Result<SigningCa, CaError> {
    let wanted = now + Duration::days(i64::from(settings.intermediate_days));
    let not_after = wanted.min(root.not_after);
    let params = params(
        &INTERMEDIATE,
        settings,
        Some(cluster),
        now - BACKDATE,
        not_after,
    )?;
    let issuer = Issuer::from_ca_cert_der(&root.cert_der.as_slice().into(), &root.key).map_err(
        |source| CaError::Generate {
            what: "issuer from the root certificate".into(),
            source,
        },
    )?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| CaError::Generate {
            what: format!("intermediate certificate for cluster '{cluster}'"),
            source,
        })?;
    Ok(SigningCa {
        cert_der: cert.der().to_vec(),
        key,
        not_after,
    })
}
