//! What a remote secret's credentials may do, from one `SelfSubjectRulesReview` (in the Istio
//! namespace: it lists the cluster-wide grants and that namespace's) instead of one access
//! review per question. Pure: rules in, answers out.

use k8s_openapi::api::authorization::v1::ResourceRule;

fn has(list: Option<&Vec<String>>, want: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|x| x == "*" || x == want))
}

/// Whether `rules` allow `verb` on every object of `group`/`resource` (rules restricted to
/// resource names do not).
pub(super) fn allows(rules: &[ResourceRule], verb: &str, group: &str, resource: &str) -> bool {
    rules.iter().any(|r| {
        r.verbs.iter().any(|v| v == "*" || v == verb)
            && has(r.api_groups.as_ref(), group)
            && has(r.resources.as_ref(), resource)
            && r.resource_names.as_ref().is_none_or(|n| n.is_empty())
    })
}

/// Reviews the rules of the client's user in `namespace`; the error is the cause as text.
pub(super) async fn review(
    client: kube::Client,
    namespace: &str,
) -> Result<Vec<ResourceRule>, String> {
    use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
    let api: kube::Api<SelfSubjectRulesReview> = kube::Api::all(client);
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.into()),
        },
        ..Default::default()
    };
    let done = api
        .create(&kube::api::PostParams::default(), &review)
        .await
        .map_err(|e| {
            format!(
                "SelfSubjectRulesReview in {namespace}: {}",
                crate::cluster::sentence(&e)
            )
        })?;
    let status = done.status.unwrap_or_default();
    if status.incomplete && status.resource_rules.is_empty() {
        return Err(format!(
            "SelfSubjectRulesReview in {namespace} is incomplete: {}",
            status.evaluation_error.unwrap_or_default()
        ));
    }
    Ok(status.resource_rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> ResourceRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ResourceRule {
            verbs: v(verbs),
            api_groups: Some(v(groups)),
            resources: Some(v(resources)),
            resource_names: (!names.is_empty()).then(|| v(names)),
        }
    }

    #[test]
    fn rules_answer_the_reader_questions() {
        let reader = [
            rule(&["get", "list", "watch"], &[""], &["services", "pods"], &[]),
            rule(&["list"], &["discovery.k8s.io"], &["endpointslices"], &[]),
        ];
        assert!(allows(&reader, "list", "", "services"));
        assert!(allows(
            &reader,
            "list",
            "discovery.k8s.io",
            "endpointslices"
        ));
        assert!(!allows(&reader, "create", "", "secrets"));
        assert!(
            !allows(&reader, "list", "", "endpointslices"),
            "the group counts"
        );
        let admin = [rule(&["*"], &["*"], &["*"], &[])];
        assert!(allows(&admin, "create", "", "secrets"));
        let named = [rule(&["create"], &[""], &["secrets"], &["one"])];
        assert!(
            !allows(&named, "create", "", "secrets"),
            "a named grant is not a general one"
        );
    }
}
