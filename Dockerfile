# Container image of tencentcloud-partner-exporter.
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t tencentcloud-partner-exporter .
# The build stage uses the toolchain the project is developed with and
# scripts/build-static, so the image ships the same statically linked binary
# that script builds outside Docker; the image holds that binary, CA
# certificates and nothing else, and runs as a non-root user.

FROM rust:1.95-bookworm AS build
ARG VERSION=""
ARG REVISION=""
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY src ./src
COPY benches ./benches
COPY scripts/build-static ./scripts/
# build-static runs: cargo build --release --locked with crt-static
RUN TENCENTCLOUD_PARTNER_EXPORTER_VERSION="${VERSION}" \
    TENCENTCLOUD_PARTNER_EXPORTER_REVISION="${REVISION:-unknown}" \
    scripts/build-static /out

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG REVISION=""
# Where the source lives, for the OCI label (the repository URL of your build).
ARG SOURCE=""
LABEL org.opencontainers.image.title="tencentcloud-partner-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Tencent Cloud International Partners: credit, allocations and vouchers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=build /out/tencentcloud-partner-exporter /usr/local/bin/tencentcloud-partner-exporter
USER 65532:65532
EXPOSE 19287
ENTRYPOINT ["/usr/local/bin/tencentcloud-partner-exporter"]
