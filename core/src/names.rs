//! Names that travel between clusters: the cluster ID and the mesh ID.
//!
//! A cluster's name becomes the data key of its remote secret, `values.global.multiCluster.clusterName`,
//! a path segment of the remote injection URL and a directory under the certificate directory,
//! so it must be a DNS-1123 label everywhere (istioctl rejects anything else).

use crate::hint::Hinted;
use std::fmt;

/// A validated cluster name (a DNS-1123 label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ClusterName(String);

/// Why a name was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Not a DNS-1123 label.
    #[error("invalid cluster name '{name}': {reason}")]
    Invalid {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same name twice in one command.
    #[error("cluster name '{0}' is given more than once")]
    Duplicate(String),
    /// No cluster named at all.
    #[error("no cluster named")]
    Empty,
}

impl Hinted for NameError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            NameError::Invalid { .. } => "cluster names are DNS-1123 labels: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. east, west, cluster-1)".into(),
            NameError::Duplicate(_) => "give each cluster once; every cluster in a mesh needs a unique name".into(),
            NameError::Empty => "name the clusters, e.g. --clusters east,west".into(),
        })
    }
}

/// Why `name` is not a DNS-1123 label (a cluster name, a namespace name), or `None` (pure).
pub fn dns_label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.len() > 63 {
        return Some("it is longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("only lowercase letters, digits and '-' are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("it must start and end with a letter or digit");
    }
    None
}

impl ClusterName {
    /// Validates `name` as a DNS-1123 label.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let invalid = |reason| NameError::Invalid {
            name: name.to_string(),
            reason,
        };
        match dns_label_problem(name) {
            Some(reason) => Err(invalid(reason)),
            None => Ok(ClusterName(name.to_string())),
        }
    }

    /// Validates a list: each a DNS-1123 label, none twice, at least one.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Self>, NameError> {
        if names.is_empty() {
            return Err(NameError::Empty);
        }
        let mut out: Vec<ClusterName> = Vec::with_capacity(names.len());
        for n in names {
            let name = ClusterName::parse(n.as_ref().trim())?;
            if out.contains(&name) {
                return Err(NameError::Duplicate(name.0));
            }
            out.push(name);
        }
        Ok(out)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["east", "west-2", "a", "c1", &"x".repeat(63)] {
            assert!(ClusterName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_istio_rejects() {
        for bad in [
            "",
            "East",
            "-east",
            "east-",
            "east_1",
            "east.west",
            &"x".repeat(64),
        ] {
            let err = ClusterName::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn rejects_duplicates_and_empty_lists() {
        let err = ClusterName::parse_list(&["east", "west", "east"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cluster name 'east' is given more than once"
        );
        assert!(matches!(
            ClusterName::parse_list::<&str>(&[]),
            Err(NameError::Empty)
        ));
    }
}
