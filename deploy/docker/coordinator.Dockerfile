# Coordinator image: the coordinator binary and the connector modules it
# serves to workers through its ConnectorRegistry. Build from the repository root:
#   docker build -f deploy/docker/coordinator.Dockerfile -t rapidbyte/coordinator .
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY . .
RUN make build wasm

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/rapidbyte-coordinator /usr/local/bin/rapidbyte-coordinator
COPY --from=build /src/bin/rapidbyte /usr/local/bin/rapidbyte
COPY --from=build --chown=65532:65532 /src/dist/connectors /opt/rapidbyte/connectors
USER 65532:65532
EXPOSE 7070 9090
ENTRYPOINT ["/usr/local/bin/rapidbyte-coordinator"]
CMD ["--listen=0.0.0.0:7070", "--connectors-dir=/opt/rapidbyte/connectors"]
