//! Calls that need Kubernetes' typed APIs (subresources and reviews the dynamic object API
//! does not cover), so that no file outside this module builds a `kube::Api` itself.

use super::{ClusterError, Kube};

impl Kube {
    /// A token for ServiceAccount `namespace/service_account` from the TokenRequest API,
    /// valid for `ttl_seconds` and bound to the Secret `(name, uid)`; empty when the answer
    /// carries none.
    pub async fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        (name, uid): (&str, &str),
        ttl_seconds: u64,
    ) -> Result<String, ClusterError> {
        use k8s_openapi::api::authentication::v1::{
            BoundObjectReference, TokenRequest, TokenRequestSpec,
        };
        use k8s_openapi::api::core::v1::ServiceAccount;
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(i64::try_from(ttl_seconds).unwrap_or(i64::MAX)),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Secret".into()),
                    name: Some(name.into()),
                    uid: Some(uid.into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let api: kube::Api<ServiceAccount> = kube::Api::namespaced(self.client.clone(), namespace);
        let what = format!("create a token for {namespace}/{service_account}");
        let answer = api
            .create_token_request(service_account, &Default::default(), &request)
            .await
            .map_err(|e| ClusterError::api(&self.context, &what, e))?;
        Ok(answer.status.and_then(|s| s.token).unwrap_or_default())
    }
}

impl Kube {
    /// `SelfSubjectAccessReview`: may this connection's user do `verb` on `group`/`resource`
    /// (in `namespace`, or cluster-wide)?
    pub async fn access_review(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<bool, ClusterError> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    namespace: namespace.map(String::from),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(self.client.clone());
        let done = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .map_err(|e| {
                ClusterError::api(&self.context, &format!("review {verb} {resource}"), e)
            })?;
        Ok(done.status.is_some_and(|s| s.allowed))
    }

    /// Runs `command` in `container` of pod `namespace/pod` (no stdin; stdout and stderr
    /// attached).
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<&str>,
    ) -> Result<kube::api::AttachedProcess, kube::Error> {
        use k8s_openapi::api::core::v1::Pod;
        let pods: kube::Api<Pod> = kube::Api::namespaced(self.client.clone(), namespace);
        let params = kube::api::AttachParams::default()
            .container(container)
            .stdin(false);
        pods.exec(pod, command, &params).await
    }

    /// Forwards `ports` of pod `namespace/pod` (take each port's stream from the answer).
    pub async fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        ports: &[u16],
    ) -> Result<kube::api::Portforwarder, kube::Error> {
        use k8s_openapi::api::core::v1::Pod;
        let pods: kube::Api<Pod> = kube::Api::namespaced(self.client.clone(), namespace);
        pods.portforward(pod, ports).await
    }

    /// A watch of the objects of `resource` (in `namespace`, or all), as kube-rs' watcher
    /// streams it.
    pub fn watch(
        &self,
        resource: &kube::discovery::ApiResource,
        namespace: Option<&str>,
        config: kube::runtime::watcher::Config,
    ) -> impl futures::Stream<
        Item = kube::runtime::watcher::Result<
            kube::runtime::watcher::Event<kube::api::DynamicObject>,
        >,
    > + Send
    + 'static {
        let api: kube::Api<kube::api::DynamicObject> = match namespace {
            Some(ns) => kube::Api::namespaced_with(self.client.clone(), ns, resource),
            None => kube::Api::all_with(self.client.clone(), resource),
        };
        kube::runtime::watcher(api, config)
    }

    /// A recorder of Kubernetes Events in this cluster, published as `reporter`.
    pub fn event_recorder(
        &self,
        reporter: kube::runtime::events::Reporter,
    ) -> kube::runtime::events::Recorder {
        kube::runtime::events::Recorder::new(self.client.clone(), reporter)
    }
}
