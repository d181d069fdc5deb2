//! Certificate profiles as data: what a root and an intermediate look like.
//!
//! The defaults are the ones the seeds' openssl procedure and Istio's `tools/certs` Makefile
//! produce (reference §3): RSA 4096, SHA-256, 3650 days, `O=Istio`; the root is `CN=Root CA`
//! with `CA:true`; each intermediate is `CN=Intermediate CA, L=<cluster>` with `CA:true,
//! pathlen:0` and the SAN `DNS:istiod.istio-system.svc`. Both carry the critical key usage
//! digitalSignature, nonRepudiation, keyEncipherment, keyCertSign.

use rcgen::{KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, RsaKeySize};
use serde::{Deserialize, Serialize};

/// The key algorithm and size of the CA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
pub enum KeyType {
    /// RSA, 2048-bit modulus.
    #[value(name = "rsa-2048")]
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072-bit modulus.
    #[value(name = "rsa-3072")]
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096-bit modulus (Istio's default).
    #[default]
    #[value(name = "rsa-4096")]
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// ECDSA on P-256 with SHA-256.
    #[value(name = "ecdsa-p256")]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    #[value(name = "ecdsa-p384")]
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
}

impl KeyType {
    /// The name the `--key-type` flag and the settings file use (`rsa-4096`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
        }
    }

    /// The key type a certificate description names (`RSA 4096`, `ECDSA P-256`).
    pub fn from_description(text: &str) -> Option<KeyType> {
        Some(match text {
            "RSA 2048" => KeyType::Rsa2048,
            "RSA 3072" => KeyType::Rsa3072,
            "RSA 4096" => KeyType::Rsa4096,
            "ECDSA P-256" => KeyType::EcdsaP256,
            "ECDSA P-384" => KeyType::EcdsaP384,
            _ => return None,
        })
    }

    /// Generates a fresh key of this type.
    pub fn generate(self) -> Result<KeyPair, rcgen::Error> {
        let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        match self {
            KeyType::Rsa2048 => rsa(RsaKeySize::_2048),
            KeyType::Rsa3072 => rsa(RsaKeySize::_3072),
            KeyType::Rsa4096 => rsa(RsaKeySize::_4096),
            KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384),
        }
    }
}

/// One level of the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The subject's common name.
    pub common_name: &'static str,
    /// `pathlen` of basicConstraints; `None` leaves it unconstrained.
    pub path_len: Option<u8>,
    /// Key usages, written critical.
    pub key_usages: &'static [KeyUsagePurpose],
    /// SANs every certificate of this level carries.
    pub dns_sans: &'static [&'static str],
    /// Whether the subject's locality carries the cluster name.
    pub locality_is_cluster: bool,
    /// Whether to write an authority key identifier.
    pub authority_key_id: bool,
}

const CA_KEY_USAGES: &[KeyUsagePurpose] = &[
    KeyUsagePurpose::DigitalSignature,
    KeyUsagePurpose::ContentCommitment,
    KeyUsagePurpose::KeyEncipherment,
    KeyUsagePurpose::KeyCertSign,
];

/// The mesh's root CA.
pub const ROOT: Profile = Profile {
    common_name: "Root CA",
    path_len: None,
    key_usages: CA_KEY_USAGES,
    dns_sans: &[],
    locality_is_cluster: false,
    authority_key_id: false,
};

/// A cluster's intermediate CA (what istiod signs workload certificates with).
pub const INTERMEDIATE: Profile = Profile {
    common_name: "Intermediate CA",
    path_len: Some(0),
    key_usages: CA_KEY_USAGES,
    dns_sans: &["istiod.istio-system.svc"],
    locality_is_cluster: true,
    authority_key_id: true,
};

/// The knobs a user may turn, with Istio's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaSettings {
    /// Key type of new keys (root and intermediates).
    pub key_type: KeyType,
    /// Validity of a new root, in days.
    pub root_days: u32,
    /// Validity of a new intermediate, in days (never past the root's end).
    pub intermediate_days: u32,
    /// The subject's organization (`O=`).
    pub organization: String,
    /// Extra SANs for intermediates (DNS names or IP addresses).
    #[serde(default)]
    pub extra_sans: Vec<String>,
}

impl Default for CaSettings {
    fn default() -> Self {
        CaSettings {
            key_type: KeyType::Rsa4096,
            root_days: 3650,
            intermediate_days: 3650,
            organization: "Istio".into(),
            extra_sans: Vec::new(),
        }
    }
}
