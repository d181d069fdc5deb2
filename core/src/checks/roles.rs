//! `control-plane.role`: each cluster runs the control plane its role in the mesh file calls
//! for (a primary its own istiod, a remote the `remote` profile). A file that makes a remote
//! of a cluster still running as a primary (or the reverse) is a change not yet joined.

use super::{CheckId, CheckResult, ClusterFacts, Emit, Member};
use crate::mesh::Role;

fn name(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary (its own istiod)",
        Role::Remote => "remote (the remote profile, served by its primary's istiod)",
    }
}

/// The observed role of `f` against the one its mesh-file entry gives.
pub(super) fn role(members: &[Member], f: &ClusterFacts) -> CheckResult {
    let e = Emit::new(CheckId::ControlPlaneRole);
    let c = Some(f.name.as_str());
    let Some(want) = members
        .iter()
        .find(|m| m.name == f.name)
        .and_then(|m| m.role)
    else {
        return e.not_applicable(c, "no mesh file: the role is whatever the cluster runs");
    };
    let join = format!(
        "kubectl mesh-join plan -f mesh.yaml --only {0} shows the change; kubectl mesh-join -f mesh.yaml --only {0} makes it",
        f.name
    );
    match f.role() {
        None => e.skip(
            c,
            "no control plane observed (control-plane.istio-ready says why)",
        ),
        Some(have) if have == want => e.pass(
            c,
            format!("runs as a {}, as the mesh file says", name(have)),
        ),
        Some(have) => e.problem(
            c,
            format!(
                "runs as a {}, but the mesh file makes it a {}",
                name(have),
                name(want)
            ),
            &join,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;
    use serde_json::json;

    fn member(role: Option<Role>) -> Member {
        Member {
            name: "west".into(),
            context: "ctx-west".into(),
            network: None,
            role,
            primary: None,
            east_west_address: None,
        }
    }

    fn running(profile: Option<&str>) -> ClusterFacts {
        let mut istio = json!({"spec": {"values": {"global": {"meshID": "mesh1"}}}});
        if let Some(p) = profile {
            istio["spec"]["profile"] = json!(p);
        }
        ClusterFacts {
            name: "west".into(),
            istio: Some(istio),
            ..Default::default()
        }
    }

    #[test]
    fn the_observed_role_is_compared_with_the_mesh_files() {
        let agree = role(&[member(Some(Role::Remote))], &running(Some("remote")));
        assert_eq!(agree.result, Outcome::Pass, "{agree:?}");
        let primary = role(&[member(Some(Role::Primary))], &running(None));
        assert_eq!(primary.result, Outcome::Pass, "{primary:?}");
        // The file disagrees: a remote still running as a primary, and the reverse.
        let not_yet = role(&[member(Some(Role::Remote))], &running(None));
        assert_eq!(not_yet.result, Outcome::Fail, "{not_yet:?}");
        assert!(
            not_yet.message.contains("runs as a primary"),
            "{}",
            not_yet.message
        );
        assert!(
            not_yet.message.contains("makes it a remote"),
            "{}",
            not_yet.message
        );
        assert!(not_yet.hint.contains("--only west"), "{}", not_yet.hint);
        let reverse = role(&[member(Some(Role::Primary))], &running(Some("remote")));
        assert_eq!(reverse.result, Outcome::Fail, "{reverse:?}");
    }

    #[test]
    fn without_a_file_it_does_not_apply_and_without_a_control_plane_it_is_not_evaluated() {
        let no_file = role(&[member(None)], &running(None));
        assert_eq!(no_file.result, Outcome::NotApplicable);
        let unseen = ClusterFacts {
            name: "west".into(),
            ..Default::default()
        };
        let r = role(&[member(Some(Role::Primary))], &unseen);
        assert_eq!(r.result, Outcome::Skip, "{r:?}");
    }
}
