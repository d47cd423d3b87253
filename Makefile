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
TEST_CONNECTORS := test-generator test-faulty test-badabi test-careless test-noreactor

# Concurrency-heavy packages: `make test` runs them a second time under the
# race detector (a whole-suite -race run would not fit CI's time on 2 cores),
# and the unsafe-pointer code of the sdk and the connectors under -race's
# checkptr.
RACE_SDK         := ./batch/...
RACE_CONNECTORS  := ./internal/pgarrow/...
RACE_COORDINATOR := ./internal/workerpool/... ./internal/relay/... ./internal/engine/... ./internal/grpcapi/...
RACE_WORKER      := ./internal/bufpool/... ./internal/grpcapi/... ./internal/runner/...

# Pinned tools, each installed into bin/ by the first target that needs it
# (tools/*/go.mod pins the versions; `make tools` installs them all).
TOOL_INSTALL = @mkdir -p $(BIN) && GOWORK=off GOBIN=$(BIN) go -C $(1) install $(2) && touch $@
# The vulnerability database govulncheck reads: built from the OSV files of
# the golang.org/x/vulndb module pinned in tools/vulndb (vuln.go.dev is not
# reachable everywhere CI runs). VULNDB=https://vuln.go.dev checks against the
# live database instead.
VULNDB_DIR := $(CURDIR)/build/vulndb
VULNDB     ?= file://$(VULNDB_DIR)

.PHONY: help build wasm warm proto gencheck test lint staticcheck vulncheck fmt check bench demo fuzz tools clean images

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

# test-noreactor is built without -buildmode=c-shared on purpose (a wasip1
# command, no _initialize export): the host must refuse it at load.
$(DIST)/testconnectors/test-noreactor.wasm: $(shell find connectors sdk -name '*.go' -o -name '*.json' -o -name go.mod 2>/dev/null)
	@mkdir -p $(@D)
	cd connectors && GOOS=wasip1 GOARCH=wasm go build -o $@.tmp ./testing/test-noreactor
	go -C sdk run ./cmd/rbpack -manifest $(CURDIR)/connectors/testing/test-noreactor/manifest.json -wasm $@.tmp
	mv -f $@.tmp $@

# warm and demo use the cache a plain `bin/rapidbyte run` uses (the user cache
# directory), not the tests' build/wazero-cache, so runs after them start warm.
warm: build wasm ## compile the connector modules into the user's wazero cache, so no run compiles them
	env -u RAPIDBYTE_CACHE_DIR $(BIN)/rapidbyte-worker --warm-only --connectors-dir $(DIST)/connectors --log-level warn

images: wasm ## build the rapidbyte/worker and rapidbyte/coordinator images FROM scratch (docker; nothing is pulled)
	scripts/images.sh

proto: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc ## regenerate proto/gen with buf (local plugins from tools/)
	$(BIN)/buf lint
	$(BIN)/buf generate

gencheck: proto ## regenerate proto/gen and fail if it differs from the committed code
	@git diff --exit-code --stat -- proto/gen && test -z "$$(git ls-files --others --exclude-standard -- proto/gen)" \
		|| { echo "proto/gen is stale: run make proto and commit"; exit 1; }

tools: $(BIN)/buf $(BIN)/grpcurl $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/staticcheck $(BIN)/govulncheck ## install every pinned tool into bin/

$(BIN)/buf: tools/buf/go.mod tools/buf/go.sum
	$(call TOOL_INSTALL,tools/buf,github.com/bufbuild/buf/cmd/buf)
$(BIN)/grpcurl: tools/buf/go.mod tools/buf/go.sum
	$(call TOOL_INSTALL,tools/buf,github.com/fullstorydev/grpcurl/cmd/grpcurl)
$(BIN)/protoc-gen-go: tools/protoc/go.mod tools/protoc/go.sum
	$(call TOOL_INSTALL,tools/protoc,google.golang.org/protobuf/cmd/protoc-gen-go)
$(BIN)/protoc-gen-go-grpc: tools/protoc/go.mod tools/protoc/go.sum
	$(call TOOL_INSTALL,tools/protoc,google.golang.org/grpc/cmd/protoc-gen-go-grpc)
$(BIN)/staticcheck: tools/lint/go.mod tools/lint/go.sum
	$(call TOOL_INSTALL,tools/lint,honnef.co/go/tools/cmd/staticcheck)
$(BIN)/govulncheck: tools/lint/go.mod tools/lint/go.sum
	$(call TOOL_INSTALL,tools/lint,golang.org/x/vuln/cmd/govulncheck)
$(BIN)/indexdb: tools/vulndb/go.mod tools/vulndb/go.sum
	$(call TOOL_INSTALL,tools/vulndb,golang.org/x/vulndb/cmd/indexdb)
$(VULNDB_DIR)/index/db.json: $(BIN)/indexdb
	rm -rf $(VULNDB_DIR)
	$(BIN)/indexdb -vulns "$$(GOWORK=off go -C tools/vulndb list -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv" -out $(VULNDB_DIR)

fmt: ## gofmt every module
	gofmt -w $(MODULES)

lint: staticcheck ## gofmt check, go vet and staticcheck on every module
	@out=$$(gofmt -l $(MODULES) | grep -v '/gen/' || true); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do echo "vet $$m"; go -C $$m vet ./... || exit 1; done
	@cd sdk && GOOS=wasip1 GOARCH=wasm go vet ./...
	@cd connectors && GOOS=wasip1 GOARCH=wasm go vet ./...

# staticcheck runs on the native build only: the wasip1 files' //go:wasmexport
# functions look unused to it.
staticcheck: $(BIN)/staticcheck ## staticcheck (pinned in tools/lint) on every module
	@for m in $(MODULES); do echo "staticcheck $$m"; (cd $$m && $(BIN)/staticcheck ./...) || exit 1; done

vulncheck: $(BIN)/govulncheck $(if $(filter file://$(VULNDB_DIR),$(VULNDB)),$(VULNDB_DIR)/index/db.json) ## govulncheck every module (see scripts/vulncheck.sh)
	scripts/vulncheck.sh $(BIN)/govulncheck $(VULNDB) $(MODULES)

# make test compiles the modules into the tests' cache first, so no
# time-bounded test pays a compile on a busy machine. The deliberately broken
# test modules (test-badabi, ...) fail to load by design: that warm is
# best-effort, the others are compiled.
test: build wasm $(BIN)/grpcurl ## run every test (and the concurrency-heavy packages again under -race); starts throwaway PostgreSQL clusters (one with wal_level=logical) when none answers
	@eval "$$(scripts/pg-ensure.sh)"; eval "$$(scripts/pg-logical.sh)"; \
	echo "== warm the tests' compilation cache ($(RAPIDBYTE_CACHE_DIR))"; \
	$(BIN)/rapidbyte-worker --warm-only --connectors-dir $(DIST)/connectors --cache-dir $(RAPIDBYTE_CACHE_DIR) --log-level warn || exit 1; \
	$(BIN)/rapidbyte-worker --warm-only --connectors-dir $(DIST)/testconnectors --cache-dir $(RAPIDBYTE_CACHE_DIR) --log-level error >/dev/null 2>&1 || true; \
	failed=; for m in $(MODULES); do echo "== test $$m"; go -C $$m test -count=1 -timeout 25m ./... || failed="$$failed $$m"; done; \
	echo "== test -race coordinator"; go -C coordinator test -race -count=1 -timeout 25m $(RACE_COORDINATOR) || failed="$$failed race-coordinator"; \
	echo "== test -race worker"; go -C worker test -race -count=1 -timeout 25m $(RACE_WORKER) || failed="$$failed race-worker"; \
	echo "== test -race sdk"; go -C sdk test -race -count=1 -timeout 25m $(RACE_SDK) || failed="$$failed race-sdk"; \
	echo "== test -race connectors"; go -C connectors test -race -count=1 -timeout 25m $(RACE_CONNECTORS) || failed="$$failed race-connectors"; \
	if [ -n "$$failed" ]; then echo "== FAILED:$$failed"; exit 1; fi

FUZZTIME ?= 30000x
fuzz: ## run every fuzz target briefly (FUZZTIME: executions like 30000x, or a duration)
	scripts/fuzz.sh $(FUZZTIME)

demo: warm ## seed a demo database and run examples/pg_to_pg.yaml end to end
	env -u RAPIDBYTE_CACHE_DIR scripts/demo.sh

bench: build wasm ## PG -> PG benchmark against the raw COPY pipe, then the CDC benchmark (see bench/README.md)
	bench/run.sh
	bench/cdc.sh

check: gencheck ## regenerate, lint, breaking check, test, and fail on a dirty tree
	@if git rev-parse -q --verify main >/dev/null && git cat-file -e main:proto 2>/dev/null; then $(BIN)/buf breaking --against '.git#branch=main'; fi
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || exit 1; done
	$(MAKE) lint test

clean: ## remove build outputs
	rm -rf $(BIN) $(DIST) build
