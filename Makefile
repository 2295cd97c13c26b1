# connects-reconciler. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/connects-reconciler
STATICCHECK_VERSION := v0.8.2
# The toolchain is go.mod's `toolchain` line (go1.26.10: go1.26.8's net/http,
# crypto/tls, crypto/x509, html/template and net/textproto carry vulnerabilities
# the job's code reaches, see `make vuln`). auto lets an older local go fetch it
# through the module proxy once, whatever GOTOOLCHAIN the environment sets.
export GOTOOLCHAIN := auto
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: help build demo test vet staticcheck lint clean bench k8s fuzz tools alerts vuln

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The version --version prints and connects_reconciler_build_info carries:
# the nearest tag and the commit (git describe), "dev" outside a checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/connects/connects-reconciler/internal/version.version=$(VERSION) \
           -X github.com/connects/connects-reconciler/internal/version.revision=$(REVISION)

build: ## build bin/connects-reconciler, its version stamped (VERSION, default git describe)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/connects-reconciler

demo: build ## set up a local database if none is configured, migrate, seed, dry-run, run, run again
	bash scripts/demo.sh

vet: ## go vet
	$(GO) vet ./...

staticcheck: ## staticcheck (installed on first use from the Go module proxy)
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

lint: vet staticcheck ## gofmt check, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# What the tests need besides Go and PostgreSQL, installed when missing:
# promtool (Debian's prometheus package) for the alert rule tests, the
# Pushgateway for the metrics tests, staticcheck from the Go module proxy.
# apt-get runs as root, or through sudo when there is one.
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)
PUSHGATEWAY := $(shell command -v prometheus-pushgateway || echo /usr/bin/prometheus-pushgateway)
tools: ## install what the tests need when missing: promtool and prometheus-pushgateway (apt-get), staticcheck (go install)
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	[ -x "$(PUSHGATEWAY)" ] || missing="$$missing prometheus-pushgateway"; \
	if [ -n "$$missing" ]; then \
	  echo "tools: installing$$missing with apt-get"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	command -v promtool >/dev/null || { echo "tools: FAILED: promtool (Debian package prometheus) is needed for the alert tests" >&2; exit 1; }; \
	[ -x "$(PUSHGATEWAY)" ] || { echo "tools: FAILED: prometheus-pushgateway is needed for the metrics tests" >&2; exit 1; }
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

alerts: ## promtool: check the alert rules and run their unit tests (k8s/monitoring/alerts_test.yaml)
	cd k8s/monitoring && promtool check rules alerts.yaml && promtool test rules alerts_test.yaml alerts_exceptions_test.yaml alerts_replica_test.yaml alerts_groups_test.yaml alerts_coverage_test.yaml

test: tools lint vuln k8s alerts ## install missing tools, lint, govulncheck, the k8s checks, the alert rule tests, every test with the race detector against real PostgreSQL (TEST_DATABASE_URL, default 127.0.0.1:5432), a short fuzz pass
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=5s

FUZZTIME ?= 1m
fuzz: ## run each fuzz test for FUZZTIME (default 1m); a failing input is saved under the package's testdata/fuzz
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./config
	$(GO) test -run '^$$' -fuzz '^FuzzReadPlan$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./reconcile

# govulncheck against a vulnerability database built here from the Go
# vulnerability database's own module (golang.org/x/vulndb, its data/osv
# records, indexed by its cmd/indexdb): this network reaches the Go module
# proxy but not vuln.go.dev. Both versions are pinned, so a run is
# reproducible; moving VULNDB_VERSION to a newer pseudo-version (`go list -m
# -versions` does not list them: `go list -m golang.org/x/vulndb@latest`) is a
# reviewed commit, like the base images' digests. The database is built once
# per version (about a minute) under VULNDB_CACHE. Only code the job calls
# counts (govulncheck's default, symbol level); exit 3 is a finding.
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB_CACHE ?= $(HOME)/.cache/connects-reconciler/vulndb-$(VULNDB_VERSION)
vuln: ## govulncheck ./... against the pinned vulnerability database (built on first use from the module proxy)
	@command -v govulncheck >/dev/null && govulncheck -version 2>/dev/null | grep -q 'govulncheck@$(GOVULNCHECK_VERSION)' || $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@if [ ! -f "$(VULNDB_CACHE)/index/db.json" ]; then \
	  echo "vuln: building the vulnerability database golang.org/x/vulndb@$(VULNDB_VERSION) in $(VULNDB_CACHE)"; \
	  src=$$(cd /tmp && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  [ -d "$$src/data/osv" ] || { echo "vuln: FAILED: golang.org/x/vulndb@$(VULNDB_VERSION) has no data/osv" >&2; exit 1; }; \
	  rm -rf "$(VULNDB_CACHE).tmp" && mkdir -p "$(VULNDB_CACHE).tmp" && \
	  (cd /tmp && $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out "$(VULNDB_CACHE).tmp") && \
	  rm -rf "$(VULNDB_CACHE)" && mv "$(VULNDB_CACHE).tmp" "$(VULNDB_CACHE)" || { echo "vuln: FAILED: could not build the vulnerability database" >&2; exit 1; }; \
	fi
	govulncheck -db file://$(VULNDB_CACHE) ./...

# k8s/ is a module of its own (the Kubernetes modules stay out of the binary);
# -mod=mod lets it follow the main module's requirements through its replace.
k8s: ## render every kustomization under k8s/ and check it: strict decoding, restricted Pod Security, CronJob settings
	cd k8s && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 ./...

BENCH_SIZES ?= 1000000 5000000
bench: ## seed marketplaces of BENCH_SIZES proposals, time the job against the single-statement limit, print one table (docs/benchmarks.md)
	@[ -x /usr/bin/time ] || { echo "bench: installing GNU time (peak RSS of each run) with apt-get"; DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends time >/dev/null; }
	BENCH_SIZES="$(BENCH_SIZES)" $(GO) run ./cmd/bench

clean: ## remove build output and the demo's throwaway cluster
	-bash scripts/localdb.sh --stop 2>/dev/null
	rm -rf bin .demo
