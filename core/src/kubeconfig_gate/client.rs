//! What an admitted kubeconfig becomes: the only kubeconfig a client is built from.

use super::{Admitted, Credential};

impl Admitted {
    /// The kubeconfig a client is built from: only what was admitted, so no field that runs a
    /// program, reads a file or picks a proxy is set.
    pub fn to_kubeconfig(&self) -> kube::config::Kubeconfig {
        use kube::config::{
            AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
        };
        let name = "remote".to_string();
        let mut auth = AuthInfo::default();
        match &self.credential {
            Credential::Token(t) => auth.token = Some(t.expose().clone().into()),
            Credential::ClientCertificate {
                certificate_b64,
                key_b64,
            } => {
                auth.client_certificate_data = Some(certificate_b64.clone());
                auth.client_key_data = Some(key_b64.expose().clone().into());
            }
            Credential::Anonymous => {}
        }
        let cluster = Cluster {
            server: Some(self.server.clone()),
            certificate_authority_data: self.ca_b64.clone(),
            tls_server_name: self.tls_server_name.clone(),
            insecure_skip_tls_verify: self.insecure.then_some(true),
            ..Default::default()
        };
        Kubeconfig {
            clusters: vec![NamedCluster {
                name: name.clone(),
                cluster: Some(cluster),
                other: Default::default(),
            }],
            auth_infos: vec![NamedAuthInfo {
                name: name.clone(),
                auth_info: Some(auth),
                other: Default::default(),
            }],
            contexts: vec![NamedContext {
                name: name.clone(),
                context: Some(Context {
                    cluster: name.clone(),
                    user: Some(name.clone()),
                    ..Default::default()
                }),
                other: Default::default(),
            }],
            current_context: Some(name),
            ..Default::default()
        }
    }

    /// The inline token, if the credential is one.
    pub fn token(&self) -> Option<&str> {
        match &self.credential {
            Credential::Token(t) => Some(t.expose().as_str()),
            _ => None,
        }
    }
}
