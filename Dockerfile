# The image `kubectl mesh-verify install-watch` runs: kubectl-mesh_verify alone, as a
# non-root user, no shell. Build from the repository root:
#
#   docker build -t kubectl-mesh:0.1.0 .
#
# (any OCI builder reads this file: podman, buildah, kaniko). The watch then runs as
#   kubectl-mesh_verify --watch -o json --metrics-address 0.0.0.0:9464 …
# with the pod's service account (no kubeconfig: in-cluster credentials).

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kubectl-mesh-verify \
 && install -m 0755 target/release/kubectl-mesh_verify /kubectl-mesh_verify

# glibc and CA certificates, nothing else; uid 65532 (nonroot), as the Deployment requires.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /kubectl-mesh_verify /usr/local/bin/kubectl-mesh_verify
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/kubectl-mesh_verify"]
