# Worker image: the worker binary, the connector modules, and a compilation
# cache warmed at build time so the first stream does not pay the ~10 CPU-s
# compile. Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t rapidbyte/worker .
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY . .
RUN make build wasm
# Compile every connector into the cache, then exit.
RUN bin/rapidbyte-worker --connectors-dir dist/connectors --cache-dir /out/cache --warm-only \
 && mkdir -p /out/connectors && cp dist/connectors/*.wasm /out/connectors/

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/rapidbyte-worker /usr/local/bin/rapidbyte-worker
COPY --from=build --chown=65532:65532 /out/connectors /opt/rapidbyte/connectors
COPY --from=build --chown=65532:65532 /out/cache /opt/rapidbyte/cache
USER 65532:65532
EXPOSE 7071 9090
ENTRYPOINT ["/usr/local/bin/rapidbyte-worker"]
CMD ["--listen=0.0.0.0:7071", "--connectors-dir=/opt/rapidbyte/connectors", "--cache-dir=/opt/rapidbyte/cache"]
