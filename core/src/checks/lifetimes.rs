//! How long each cluster's CA certificates have left, for the watch's expiry metric.

use super::ClusterFacts;
use time::OffsetDateTime;

/// One certificate's remaining life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetime {
    /// The cluster whose `cacerts` holds it.
    pub cluster: String,
    /// `intermediate`, or `root` (the earliest-ending root during a rotation).
    pub kind: &'static str,
    /// Seconds until it ends (negative once it has ended).
    pub seconds: i64,
}

/// The intermediate's and the earliest root's remaining seconds in every cluster read whose
/// `cacerts` holds a readable certificate (as of `now`).
pub fn certificate_lifetimes(facts: &[ClusterFacts], now: OffsetDateTime) -> Vec<Lifetime> {
    let mut out = Vec::new();
    for f in facts.iter().filter(|f| f.error.is_none()) {
        let Some(bundle) = &f.cacerts else { continue };
        let report = bundle.analyze(&f.name, now, 0);
        let left = |t: OffsetDateTime| (t - now).whole_seconds();
        if let Some(t) = report.intermediate.as_ref().and_then(|i| i.not_after_time) {
            out.push(Lifetime {
                cluster: f.name.clone(),
                kind: "intermediate",
                seconds: left(t),
            });
        }
        if let Some(t) = super::trust::roots(bundle, now)
            .iter()
            .filter_map(|r| r.not_after_time)
            .min()
        {
            out.push(Lifetime {
                cluster: f.name.clone(),
                kind: "root",
                seconds: left(t),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ca::create::create;
    use crate::ca::{Bundle, CertDir};
    use crate::names::ClusterName;
    use time::macros::datetime;

    fn facts_with_cacerts(tmp: &std::path::Path, intermediate_days: u32) -> ClusterFacts {
        let dir = CertDir::new(tmp);
        let east = ClusterName::parse("east").unwrap();
        let mut opts = crate::test_support::create_options(&dir, &["east"]);
        opts.settings.intermediate_days = Some(intermediate_days);
        create(&opts, datetime!(2026-11-25 09:00 UTC)).unwrap();
        ClusterFacts {
            name: "east".into(),
            cacerts: Some(Bundle::read_local(&dir, &east).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn the_intermediate_and_the_root_are_measured_from_now() {
        let tmp = tempfile::tempdir().unwrap();
        let f = facts_with_cacerts(tmp.path(), 30);
        let day = 86_400;
        let got = certificate_lifetimes(&[f], datetime!(2026-12-05 09:00 UTC));
        let of = |kind| got.iter().find(|l| l.kind == kind).unwrap().seconds;
        // Issued on 11-25 for 30 days, read on 12-05: 20 days left (give or take the
        // backdating of notBefore, which does not move notAfter).
        assert_eq!(of("intermediate"), 20 * day, "{got:?}");
        assert!(of("root") > 3000 * day, "{got:?}");
        assert!(got.iter().all(|l| l.cluster == "east"));
    }

    #[test]
    fn a_cluster_without_cacerts_or_unread_has_no_lifetime() {
        let tmp = tempfile::tempdir().unwrap();
        let mut unread = facts_with_cacerts(tmp.path(), 30);
        // Positive control: the same facts, read, yield both lifetimes.
        assert_eq!(
            certificate_lifetimes(&[unread.clone()], datetime!(2026-12-05 09:00 UTC)).len(),
            2
        );
        unread.error = Some(crate::checks::FactError {
            request: "list Secret".into(),
            cause: "timeout".into(),
            kind: crate::checks::FactErrorKind::Unreachable,
            hint: String::new(),
        });
        let bare = ClusterFacts {
            name: "west".into(),
            ..Default::default()
        };
        assert!(certificate_lifetimes(&[unread, bare], datetime!(2026-12-05 09:00 UTC)).is_empty());
    }
}
