# Some upstream images (Loki: distroless; redis_exporter, nginx-prometheus-exporter: scratch;
# Alloy: no HTTP client) cannot run a healthcheck. This adds one static busybox `wget`, nothing else.
ARG BASE
FROM busybox:1.37.0-musl AS probe
FROM ${BASE}
COPY --from=probe /bin/busybox /usr/local/bin/wget
