# Coordinator image: the static coordinator binary and the connector modules
# it serves to workers through its ConnectorRegistry, FROM scratch, with its
# SQLite state under /var/lib/rapidbyte (a volume in deploy/). Built by
# `make images` (scripts/images.sh), which lays out the context.
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 data/ /
USER 65532:65532
ENV HOME=/home/nonroot \
    RAPIDBYTE_CONNECTORS_DIR=/opt/rapidbyte/connectors \
    RAPIDBYTE_STATE=sqlite:///var/lib/rapidbyte/state.db \
    RAPIDBYTE_LISTEN=0.0.0.0:7070
EXPOSE 7070 9090
ENTRYPOINT ["/usr/local/bin/rapidbyte-coordinator"]
