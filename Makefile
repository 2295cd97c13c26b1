# connects-reconciler. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/connects-reconciler
STATICCHECK_VERSION := v0.8.2
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: help build demo test vet staticcheck lint clean bench k8s fuzz

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/connects-reconciler
	$(GO) build -o $(BIN) ./cmd/connects-reconciler

demo: build ## set up a local database if none is configured, migrate, seed, dry-run, run, run again
	bash scripts/demo.sh

vet: ## go vet
	$(GO) vet ./...

staticcheck: ## staticcheck (installed on first use from the Go module proxy)
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

lint: vet staticcheck ## gofmt check, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: lint k8s ## lint, the k8s checks, every test with the race detector against real PostgreSQL (TEST_DATABASE_URL, default 127.0.0.1:5432), a short fuzz pass
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=5s

FUZZTIME ?= 1m
fuzz: ## run each fuzz test for FUZZTIME (default 1m); a failing input is saved under the package's testdata/fuzz
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./config
	$(GO) test -run '^$$' -fuzz '^FuzzReadPlan$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./reconcile

# k8s/ is a module of its own (the Kubernetes modules stay out of the binary);
# -mod=mod lets it follow the main module's requirements through its replace.
k8s: ## render every kustomization under k8s/ and check it: strict decoding, restricted Pod Security, CronJob settings
	cd k8s && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 ./...

BENCH_SIZES ?= 1000000 5000000
bench: ## seed marketplaces of BENCH_SIZES proposals, time the job against the single-statement limit, print one table (docs/benchmarks.md)
	BENCH_SIZES="$(BENCH_SIZES)" $(GO) run ./cmd/bench

clean: ## remove build output and the demo's throwaway cluster
	-bash scripts/localdb.sh --stop 2>/dev/null
	rm -rf bin .demo
