# Rapidbyte build, test and CI contract. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := build

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
MODULES   := proto sdk worker coordinator cli connectors deploy bench e2e
BIN       := $(CURDIR)/bin
DIST      := $(CURDIR)/dist
# One wazero compilation cache for builds and tests, so each module compiles once.
export RAPIDBYTE_CACHE_DIR ?= $(CURDIR)/build/wazero-cache
export RAPIDBYTE_CONNECTORS_DIR ?= $(DIST)/connectors
LDFLAGS   := -X github.com/rapidbyte/rapidbyte/worker/server.Version=$(VERSION) -X github.com/rapidbyte/rapidbyte/coordinator/server.Version=$(VERSION)

# Connector modules: directory under connectors/ -> dist path.
CONNECTORS      := source-postgres dest-postgres
TEST_CONNECTORS := test-generator test-faulty test-badabi

.PHONY: help build wasm warm proto test lint fmt check bench demo fuzz tools clean images

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/rapidbyte, bin/rapidbyte-coordinator, bin/rapidbyte-worker
	@mkdir -p $(BIN)
	go -C worker build -ldflags '$(LDFLAGS)' -o $(BIN)/rapidbyte-worker ./cmd/rapidbyte-worker
	go -C coordinator build -ldflags '$(LDFLAGS)' -o $(BIN)/rapidbyte-coordinator ./cmd/rapidbyte-coordinator
	go -C cli build -ldflags '$(LDFLAGS)' -o $(BIN)/rapidbyte ./cmd/rapidbyte

wasm: $(CONNECTORS:%=$(DIST)/connectors/%.wasm) $(TEST_CONNECTORS:%=$(DIST)/testconnectors/%.wasm) ## build connector modules into dist/

$(DIST)/connectors/%.wasm: $(shell find connectors sdk -name '*.go' -o -name '*.json' -o -name go.mod 2>/dev/null)
	@mkdir -p $(@D)
	cd connectors && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o $@.tmp ./$*
	go -C sdk run ./cmd/rbpack -manifest $(CURDIR)/connectors/$*/manifest.json -wasm $@.tmp
	mv -f $@.tmp $@

$(DIST)/testconnectors/%.wasm: $(shell find connectors sdk -name '*.go' -o -name '*.json' -o -name go.mod 2>/dev/null)
	@mkdir -p $(@D)
	cd connectors && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o $@.tmp ./testing/$*
	go -C sdk run ./cmd/rbpack -manifest $(CURDIR)/connectors/testing/$*/manifest.json -wasm $@.tmp
	mv -f $@.tmp $@

# warm and demo use the cache a plain `bin/rapidbyte run` uses (the user cache
# directory), not the tests' build/wazero-cache, so runs after them start warm.
warm: build wasm ## compile the connector modules into the user's wazero cache, so no run compiles them
	env -u RAPIDBYTE_CACHE_DIR $(BIN)/rapidbyte-worker --warm-only --connectors-dir $(DIST)/connectors --log-level warn

images: wasm ## build the rapidbyte/worker and rapidbyte/coordinator images FROM scratch (docker; nothing is pulled)
	scripts/images.sh

proto: ## regenerate proto/gen with buf (local plugins from tools/)
	$(BIN)/buf lint
	$(BIN)/buf generate

tools: ## install pinned buf, protoc plugins and grpcurl into bin/
	GOWORK=off GOBIN=$(BIN) go -C tools/protoc install tool
	GOWORK=off GOBIN=$(BIN) go -C tools/buf install tool

fmt: ## gofmt every module
	gofmt -w $(MODULES)

lint: ## gofmt check and go vet on every module
	@out=$$(gofmt -l $(MODULES) | grep -v '/gen/' || true); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do echo "vet $$m"; go -C $$m vet ./... || exit 1; done
	@cd sdk && GOOS=wasip1 GOARCH=wasm go vet ./...
	@cd connectors && GOOS=wasip1 GOARCH=wasm go vet ./...

test: build wasm ## run every test; starts throwaway PostgreSQL clusters (one with wal_level=logical) when none answers
	@eval "$$(scripts/pg-ensure.sh)"; eval "$$(scripts/pg-logical.sh)"; \
	for m in $(MODULES); do echo "== test $$m"; go -C $$m test -count=1 -timeout 15m ./... || exit 1; done

FUZZTIME ?= 30000x
fuzz: ## run every fuzz target briefly (FUZZTIME: executions like 30000x, or a duration)
	scripts/fuzz.sh $(FUZZTIME)

demo: warm ## seed a demo database and run examples/pg_to_pg.yaml end to end
	env -u RAPIDBYTE_CACHE_DIR scripts/demo.sh

bench: build wasm ## PG -> PG benchmark against the raw COPY pipe, then the CDC benchmark (see bench/README.md)
	bench/run.sh
	bench/cdc.sh

check: tools ## regenerate, lint, breaking check, test, and fail on a dirty tree
	$(MAKE) proto
	@git diff --exit-code -- proto/gen || (echo "proto/gen is stale: run make proto and commit"; exit 1)
	@if git rev-parse -q --verify main >/dev/null && git cat-file -e main:proto 2>/dev/null; then $(BIN)/buf breaking --against '.git#branch=main'; fi
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || exit 1; done
	$(MAKE) lint test

clean: ## remove build outputs
	rm -rf $(BIN) $(DIST) build
