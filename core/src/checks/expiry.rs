//! How long a remote secret's credential lives: a bearer token's `exp` claim (a bound token
//! from the TokenRequest API, or one a person made with `kubectl create token`), a legacy
//! token Secret's token (no expiry), or a client certificate's `notAfter`. Read without
//! verifying anything (the API server judges the credential; `remote.credentials` asks it).

use super::remote::PairFacts;
use super::{CheckId, CheckResult, Emit, Selection};
use crate::kubeconfig_gate::Credential;
use base64::Engine as _;

/// What a credential's lifetime is, as read from the kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifetime {
    /// A token without `exp` (a legacy ServiceAccount token Secret's).
    Unbounded,
    /// Valid until `expires` (Unix seconds), issued at `issued` when the credential says.
    Until {
        /// What it is: "token" or "client certificate".
        what: &'static str,
        /// Unix seconds.
        issued: Option<i64>,
        /// Unix seconds.
        expires: i64,
    },
    /// Not read (no credential, or one that does not decode).
    Unknown(String),
}

/// A JWT's claims, decoded without verifying anything; `Err` says why not.
pub fn claims(token: &str) -> Result<serde_json::Value, &'static str> {
    let mut parts = token.split('.');
    let payload = match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(p), Some(_)) => p,
        _ => return Err("the token is not a JWT"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .ok_or("the token's claims do not decode")
}

/// The lifetime of a bearer token: JWT claims `iat` and `exp`, or unbounded without `exp`.
pub fn of_token(token: &str) -> Lifetime {
    let claims = match claims(token) {
        Ok(c) => c,
        Err(why) => return Lifetime::Unknown(why.into()),
    };
    match claims["exp"].as_i64() {
        None => Lifetime::Unbounded,
        Some(expires) => Lifetime::Until {
            what: "token",
            issued: claims["iat"].as_i64(),
            expires,
        },
    }
}

/// The lifetime of a PEM client certificate.
pub fn of_certificate(pem_text: &[u8]) -> Lifetime {
    let parsed = pem::parse(pem_text).ok().and_then(|p| {
        x509_parser::parse_x509_certificate(p.contents())
            .ok()
            .map(|(_, c)| {
                (
                    c.validity().not_before.timestamp(),
                    c.validity().not_after.timestamp(),
                )
            })
    });
    match parsed {
        Some((issued, expires)) => Lifetime::Until {
            what: "client certificate",
            issued: Some(issued),
            expires,
        },
        None => Lifetime::Unknown("the client certificate does not parse".into()),
    }
}

/// The lifetime of an admitted kubeconfig's credential.
pub fn of_credential(credential: &Credential) -> Lifetime {
    match credential {
        Credential::Token(token) => of_token(token.expose()),
        Credential::ClientCertificate {
            certificate_b64, ..
        } => match base64::engine::general_purpose::STANDARD.decode(certificate_b64.trim()) {
            Ok(pem) => of_certificate(&pem),
            Err(_) => Lifetime::Unknown("client-certificate-data is not base64".into()),
        },
        Credential::Anonymous => Lifetime::Unknown("the kubeconfig carries no credential".into()),
    }
}

/// How a lifetime stands at `now` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Does not expire.
    Unbounded,
    /// More than a third of its life (and more than a day, when the start is unknown) left.
    Fine(i64),
    /// Less than that left: renew it (seconds left).
    Soon(i64),
    /// Expired (seconds ago).
    Expired(i64),
    /// Not read.
    Unknown(String),
}

/// Judges a lifetime at `now`: soon when less than a third of its life is left (a day when
/// it does not say when it began), which leaves a rotation two thirds of the way in time.
pub fn standing(l: &Lifetime, now: i64) -> Standing {
    match l {
        Lifetime::Unbounded => Standing::Unbounded,
        Lifetime::Unknown(why) => Standing::Unknown(why.clone()),
        Lifetime::Until {
            issued, expires, ..
        } => {
            let left = expires - now;
            let margin = issued.map_or(86_400, |i| (expires - i) / 3);
            if left <= 0 {
                Standing::Expired(-left)
            } else if left < margin {
                Standing::Soon(left)
            } else {
                Standing::Fine(left)
            }
        }
    }
}

/// Seconds as the largest two units (`2d3h`, `5m10s`).
pub fn human(seconds: i64) -> String {
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut left = seconds.max(0);
    let mut out = String::new();
    let mut used = 0;
    for (name, size) in units {
        if used == 2 {
            break;
        }
        if left >= size || (used == 1) {
            let n = left / size;
            left -= n * size;
            if n > 0 || used == 1 {
                out.push_str(&format!("{n}{name}"));
            }
            used += 1;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// `remote.credential-expiry` for one pair: expired fails, less than a third of its life left
/// warns, a credential that does not expire passes and says so, one not read warns.
pub(super) fn check(
    p: &PairFacts,
    sel: &Selection,
    c: Option<&str>,
    recreate: &str,
) -> CheckResult {
    let e = Emit::new(CheckId::RemoteCredentialExpiry);
    let lifetime = match &p.admitted {
        Some(a) => of_credential(&a.credential),
        None => Lifetime::Unknown("the kubeconfig was not admitted".into()),
    };
    let what = match &lifetime {
        Lifetime::Until { what, .. } => *what,
        _ => "credential",
    };
    let rotate = "kubectl mesh-join rotate-credentials -f mesh.yaml --again (or rerun kubectl mesh-join -f mesh.yaml)";
    match standing(&lifetime, sel.now.unix_timestamp()) {
        Standing::Unbounded => e.pass(c, format!("the token for {} does not expire (a token Secret's; revoked by deleting that Secret)", p.source)),
        Standing::Fine(left) => e.pass(c, format!("the {what} for {} expires in {}", p.source, human(left))),
        Standing::Soon(left) => e.warn(c, format!("the {what} for {} expires in {}: less than a third of its life is left", p.source, human(left)), rotate),
        Standing::Expired(ago) => e.problem(c, format!("the {what} for {} expired {} ago: istiod in {} cannot read {}", p.source, human(ago), p.reader, p.source), recreate),
        Standing::Unknown(why) => e.warn(c, format!("the expiry of the credential for {} was not read: {why}", p.source), "check the credential in the remote secret by hand"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(claims))
    }

    #[test]
    fn bound_and_legacy_tokens_are_told_apart() {
        assert_eq!(
            of_token(&jwt(r#"{"iat":1000,"exp":4600,"sub":"x"}"#)),
            Lifetime::Until {
                what: "token",
                issued: Some(1000),
                expires: 4600
            }
        );
        assert_eq!(
            of_token(&jwt(r#"{"sub":"system:serviceaccount:istio-system:r"}"#)),
            Lifetime::Unbounded
        );
        assert!(
            matches!(of_token("opaque-token"), Lifetime::Unknown(w) if w.contains("not a JWT"))
        );
        assert!(matches!(of_token("a.%%%.c"), Lifetime::Unknown(_)));
    }

    #[test]
    fn a_third_of_the_life_left_is_soon_and_past_exp_is_expired() {
        let l = Lifetime::Until {
            what: "token",
            issued: Some(0),
            expires: 3_600,
        };
        assert_eq!(standing(&l, 2_000), Standing::Fine(1_600));
        assert_eq!(standing(&l, 2_500), Standing::Soon(1_100));
        assert_eq!(standing(&l, 3_600), Standing::Expired(0));
        assert_eq!(standing(&l, 3_700), Standing::Expired(100));
        // No start: a day is the margin.
        let l = Lifetime::Until {
            what: "token",
            issued: None,
            expires: 200_000,
        };
        assert_eq!(standing(&l, 100_000), Standing::Fine(100_000));
        assert_eq!(standing(&l, 150_000), Standing::Soon(50_000));
        assert_eq!(standing(&Lifetime::Unbounded, 0), Standing::Unbounded);
    }

    #[test]
    fn a_client_certificate_is_read_and_garbage_is_said() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["reader".into()]).unwrap();
        params.not_before = time::macros::datetime!(2026-01-01 0:00 UTC);
        params.not_after = time::macros::datetime!(2026-01-31 0:00 UTC);
        let cert = params.self_signed(&key).unwrap();
        match of_certificate(cert.pem().as_bytes()) {
            Lifetime::Until {
                what,
                issued,
                expires,
            } => {
                assert_eq!(what, "client certificate");
                assert_eq!(issued, Some(1_767_225_600));
                assert_eq!(expires, 1_769_817_600);
            }
            l => panic!("{l:?}"),
        }
        assert!(matches!(of_certificate(b"not pem"), Lifetime::Unknown(_)));
    }

    #[test]
    fn an_admitted_credential_is_read() {
        use crate::secret::Secret;
        let bound = jwt(r#"{"iat":10,"exp":20}"#);
        assert!(matches!(
            of_credential(&Credential::Token(Secret::new(bound))),
            Lifetime::Until { expires: 20, .. }
        ));
        assert!(matches!(
            of_credential(&Credential::Anonymous),
            Lifetime::Unknown(w) if w.contains("no credential")
        ));
        let bad = Credential::ClientCertificate {
            certificate_b64: "***".into(),
            key_b64: Secret::new(String::new()),
        };
        assert!(matches!(of_credential(&bad), Lifetime::Unknown(_)));
    }

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(3_600), "1h0m");
        assert_eq!(human(90_061), "1d1h");
        assert_eq!(human(310), "5m10s");
    }

    fn with_token(claims: &str) -> PairFacts {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(claims));
        PairFacts {
            reader: "west".into(),
            source: "east".into(),
            admitted: crate::kubeconfig_gate::admit(&crate::manifests::remote_secret::kubeconfig(
                "east",
                "https://10.0.0.1:6443",
                "Q0E=",
                &token,
            ))
            .ok(),
            ..Default::default()
        }
    }

    #[test]
    fn a_bound_token_passes_then_warns_then_fails_as_it_ages() {
        // Issued at 0, valid for a day (86 400 s).
        let p = with_token(r#"{"iat":0,"exp":86400}"#);
        let at = |s: i64| {
            let sel = Selection::new(time::OffsetDateTime::from_unix_timestamp(s).unwrap());
            check(&p, &sel, Some("west"), "recreate")
        };
        let fine = at(3_600);
        assert_eq!(fine.result, crate::checks::Outcome::Pass, "{fine:?}");
        assert!(
            fine.message.contains("expires in 23h0m"),
            "{}",
            fine.message
        );
        let soon = at(60_000);
        assert_eq!(soon.result, crate::checks::Outcome::Warn, "{soon:?}");
        assert!(
            soon.message.contains("expires in 7h20m"),
            "{}",
            soon.message
        );
        let gone = at(90_000);
        assert_eq!(gone.result, crate::checks::Outcome::Fail, "{gone:?}");
        assert!(
            gone.message.contains("expired 1h0m ago") && gone.message.contains("istiod in west"),
            "{}",
            gone.message
        );
    }
}
