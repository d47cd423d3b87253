# Worker image: the static worker binary, the connector modules and a
# compilation cache warmed at build time (the first stream pays no compile),
# FROM scratch. Built by `make images` (scripts/images.sh), which lays out the
# context: rootfs/ (root-owned) and data/ (owned by the nonroot user, for the
# cache's module downloads when the root filesystem is writable).
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 data/ /
USER 65532:65532
ENV HOME=/home/nonroot \
    RAPIDBYTE_CONNECTORS_DIR=/opt/rapidbyte/connectors \
    RAPIDBYTE_CACHE_DIR=/opt/rapidbyte/cache \
    RAPIDBYTE_LISTEN=0.0.0.0:7071
EXPOSE 7071 9090
ENTRYPOINT ["/usr/local/bin/rapidbyte-worker"]
