# Ticketing — one Makefile for the whole repository.
#
#   make test   installs what the tests need (idempotently) and runs every test
#   make run    installs what it needs and runs the whole system on this machine
#
# Everything here works on a fresh Debian machine with Go, Node and apt, as root
# (as CI runs it); nothing needs Docker or a cluster.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SERVICES := auth tickets orders expiration payments
GO_MODULES := common auth tickets orders expiration payments infra/stripestandin infra/runner infra/systemtest infra/loadbench
GO_PACKAGES := $(foreach m,$(wildcard $(GO_MODULES)),./$(m)/...)
BIN := $(CURDIR)/bin
NATS_SERVER_SRC := $(wildcard infra/tools/nats-server/*)
LINT_TOOLS_SRC := $(wildcard infra/tools/funclen/*.go infra/tools/mdlinks/*.go)
TOOLS_SRC := $(filter-out $(LINT_TOOLS_SRC) $(NATS_SERVER_SRC),$(wildcard infra/tools/*.go infra/tools/*/*.go infra/tools/ferretdb/*/*.go)) infra/tools/go.mod infra/tools/go.sum
# The go.mod that builds FerretDB from its patched copy (see the tools' rule).
FERRETDB_MODFILE := $(BIN)/.ferretdb-src/go.mod
# Every folder holding a Go module's code, for the function-size check.
GO_CODE := $(wildcard $(SERVICES)) common infra

export PATH := $(BIN):$(PATH)
export TICKETING_BIN := $(BIN)
export GOFLAGS := -buildvcs=false

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-24s %s\n", $$1, $$2}'

## ---- set-up (idempotent) -------------------------------------------------------

.PHONY: deps
deps: ## install system packages the tests and the runner need (apt): Redis, nginx for the gateway, PostgreSQL for FERRETDB_BACKEND=postgresql
	@missing=""; \
		command -v redis-server >/dev/null || missing="$$missing redis-server"; \
		command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
		command -v postgres >/dev/null || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
		if [ -n "$$missing" ]; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi

.PHONY: tools
tools: $(BIN)/ferretdb $(BIN)/nats-streaming-server $(BIN)/nats-server $(BIN)/stripe-mock ## build the loopback servers into bin/

# The servers live in their own module, outside go.work, so their dependencies
# never touch the services' build list. FerretDB is built from a copy of its
# module that looks documents up by _id for any filter naming one
# (infra/tools/ferretdb/pushdown); -modfile names the go.mod that points at it.
$(BIN)/ferretdb $(BIN)/nats-streaming-server $(BIN)/stripe-mock &: $(TOOLS_SRC) $(FERRETDB_MODFILE)
	@echo "building test servers into bin/ (FerretDB, NATS Streaming, stripe-mock)"
	@cd infra/tools && GOWORK=off go build -modfile $(FERRETDB_MODFILE) -o $(BIN)/ ./ferretdb github.com/nats-io/nats-streaming-server github.com/stripe/stripe-mock

$(FERRETDB_MODFILE): $(TOOLS_SRC)
	@cd infra/tools && GOWORK=off go run ./ferretdb/pushdown -out $(dir $@)

# The NATS server for JetStream (EVENT_BUS=jetstream) has a module of its own:
# nats-streaming-server, above, holds nats-server at v2.9.
$(BIN)/nats-server: $(NATS_SERVER_SRC)
	@echo "building the NATS server (JetStream) into bin/"
	@cd infra/tools/nats-server && GOWORK=off go build -o $(BIN)/ github.com/nats-io/nats-server/v2

# The linters are pinned by the same module (infra/tools/go.mod): gocyclo at
# the version its go.mod names, funclen and mdlinks are ours.
$(BIN)/gocyclo $(BIN)/funclen $(BIN)/mdlinks &: $(LINT_TOOLS_SRC) infra/tools/go.mod infra/tools/go.sum
	@echo "building linters into bin/ (gocyclo, funclen, mdlinks)"
	@cd infra/tools && GOWORK=off go build -o $(BIN)/ github.com/fzipp/gocyclo/cmd/gocyclo ./funclen ./mdlinks

## ---- checks and tests ----------------------------------------------------------

.PHONY: test
test: deps tools lint test-go test-go-jetstream test-systems-jetstream test-manifests test-tools lint-workflows test-client test-e2e test-e2e-jetstream ## install what is needed, then run every test

.PHONY: lint
lint: lint-go lint-links lint-size ## the three below, in order

.PHONY: lint-go
lint-go: ## gofmt, go vet, and each module building without the workspace
	@unformatted=$$(gofmt -l $(wildcard $(GO_MODULES)) infra/e2e infra/tools infra/k8s/validate); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet $(GO_PACKAGES) ./infra/e2e/...
	go vet -tags external ./infra/e2e/...
	@for s in $(wildcard $(SERVICES)) infra/runner; do \
		if go list -deps ./$$s | grep -E 'testenv|testcontainers|FerretDB|otlpreceiver|/(apptest|ordertest|stripetest|harness)$$'; then \
			echo "$$s links test-only code (above) into its production binary"; exit 1; fi; \
	done
	@for s in $(wildcard $(SERVICES)); do \
		if go list -deps ./$$s | grep -E '/stripestandin$$'; then \
			echo "$$s links the Stripe stand-in (infra/stripestandin): it is for tests and the local runner only"; exit 1; fi; \
	done
	@for m in $(wildcard $(GO_MODULES)); do \
		(cd $$m && GOWORK=off go list ./... >/dev/null) || { echo "$$m does not resolve without go.work (replace directives?)"; exit 1; }; \
	done
	@if git rev-parse --git-dir >/dev/null 2>&1; then big=$$(git ls-files -z | xargs -0 -r du -k | awk '$$1 > 512 {print $$2}'); \
		if [ -n "$$big" ]; then echo "tracked files over 512 KiB (a binary committed by mistake?):"; echo "$$big"; exit 1; fi; fi

.PHONY: lint-links
lint-links: $(BIN)/mdlinks ## every relative link and image in every Markdown file resolves
	$(BIN)/mdlinks .

# Until every function is split, this lists the offenders: gocyclo's lines
# are "complexity package function file:line", funclen's "lines function file:line".
.PHONY: lint-size
lint-size: $(BIN)/gocyclo $(BIN)/funclen ## no function outside tests over 60 lines or above cyclomatic 15
	@cyclo=$$($(BIN)/gocyclo -over 15 -ignore '_test\.go$$' $(GO_CODE)) || true; \
		long=$$($(BIN)/funclen -max 60 $(GO_CODE)) || true; \
		if [ -n "$$cyclo" ]; then echo "functions above cyclomatic 15 (gocyclo): split each into one function per check or step"; echo "$$cyclo"; fi; \
		if [ -n "$$long" ]; then echo "$$long"; fi; \
		[ -z "$$cyclo$$long" ]

# The tools module's own tests (it lives outside go.work).
.PHONY: test-tools
test-tools: $(FERRETDB_MODFILE) ## the linters' tests (funclen, mdlinks) and the FerretDB wrapper's, on the FerretDB bin/ferretdb links
	cd infra/tools && GOWORK=off go vet -modfile $(FERRETDB_MODFILE) ./funclen ./mdlinks ./ferretdb/... && \
		GOWORK=off go test -modfile $(FERRETDB_MODFILE) -count=1 ./funclen ./mdlinks ./ferretdb/...

.PHONY: test-go
test-go: deps tools ## Go tests of every module, with the race detector (the runner's need nginx)
	go test -race -count=1 -timeout 15m $(GO_PACKAGES)

# The same tests again on JetStream, where a test reaches "the broker": it
# calls testenv.SharedBroker or testenv.NewBroker, or starts a service through
# servicetest, apptest or ordertest, all of which follow EVENT_BUS. The rest
# never open a broker, and common/bus and redrive already run every test on
# both transports, so running them again would only repeat them.
BROKER_TESTS_RE := testenv[.](SharedBroker|NewBroker)[(]|common/servicetest"|internal/(apptest|ordertest)"
JETSTREAM_PACKAGES = $(sort $(patsubst %/,./%,$(dir $(shell grep -rlE --include='*.go' '$(BROKER_TESTS_RE)' common $(wildcard $(SERVICES))))))
# Tests in those packages that measure something else than the broker, which
# only carries their events: run once, in test-go. The 10,000 reserve/cancel
# cycles weigh a ticket's document (about 5 minutes on JetStream here).
JETSTREAM_SKIP := ^TestTenThousandReserveCancelCyclesKeepTheTicketSmall$$

.PHONY: test-go-jetstream
test-go-jetstream: deps tools ## the Go tests that reach the broker, on JetStream (EVENT_BUS=jetstream), with the race detector
	EVENT_BUS=jetstream go test -race -count=1 -timeout 15m -skip '$(JETSTREAM_SKIP)' $(JETSTREAM_PACKAGES)

# The systems tests (infra/systemtest) run in test-go on the default
# transport, NATS Streaming, on one broker node as development runs it; here
# again with every service on JetStream (the harness follows EVENT_BUS), on
# a three-node cluster (SYSTEMTEST_BROKER=cluster), as every JetStream
# deployment runs it. A target that runs GO_PACKAGES on JetStream should
# leave SYSTEM_PACKAGES out, as they run here.
SYSTEM_PACKAGES := ./infra/systemtest/...

.PHONY: test-systems-jetstream
test-systems-jetstream: deps tools ## the systems tests with EVENT_BUS=jetstream on a 3-node cluster (test-go runs them on NATS Streaming)
	EVENT_BUS=jetstream SYSTEMTEST_BROKER=cluster go test -race -count=1 -timeout 25m $(SYSTEM_PACKAGES)

# The browser tests (client/e2e) need a running system: see client/README.md.
.PHONY: test-client
test-client: client-build ## the web client: npm ci, next build (type-checks), unit tests
	cd client && npm test

# The Kubernetes manifests, proved without a cluster (docs/kubernetes.md). The
# validator is its own module outside go.work: the Kubernetes libraries never
# enter the services' build list. Its server-side dry run needs a real API
# server and its etcd, built once into bin/.
.PHONY: test-manifests
test-manifests: $(BIN)/kube-apiserver $(BIN)/etcd ## render every Kustomize overlay, decode strictly, check the invariants, dry-run it on an API server
	cd infra/k8s/validate && GOWORK=off go test -count=1 ./...

# Kubernetes' own API server and etcd, from their Go modules (no download site
# is needed): a module of their own, because Kubernetes' needs a replace
# directive per staging module (infra/tools/kube-apiserver/go.mod).
KUBE_APISERVER_SRC := $(wildcard infra/tools/kube-apiserver/go.* infra/tools/kube-apiserver/cmd/*/*.go)

$(BIN)/kube-apiserver $(BIN)/etcd &: $(KUBE_APISERVER_SRC)
	@echo "building a Kubernetes API server and etcd into bin/ (a few minutes, once)"
	@cd infra/tools/kube-apiserver && GOWORK=off go build -o $(BIN)/ ./cmd/kube-apiserver ./cmd/etcd

ACTIONLINT_VERSION := v1.7.12

.PHONY: lint-workflows
lint-workflows: ## actionlint on .github/workflows (installs the pinned version into bin/)
	@if [ "$$($(BIN)/actionlint -version 2>/dev/null | head -n 1)" != "$(ACTIONLINT_VERSION)" ]; then \
		echo "installing actionlint $(ACTIONLINT_VERSION) into bin/"; \
		GOWORK=off GOBIN=$(BIN) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); \
	fi
	$(BIN)/actionlint

# The running system from outside: bin/runner on ports of its own, driven
# through its gateway by Go flows (infra/e2e), newman (infra/postman) and the
# client's browser tests (client/e2e). The flows' external mode (-tags
# external), which the kind workflow points at a cluster, is proved here
# against the same runner (TestTheExternalModeAgainstTheRunner).
.PHONY: test-e2e
test-e2e: deps browser tools build client-build postman-deps ## end-to-end: Go flows, the Postman collection, browser tests
	$(call run-e2e,stan,$(E2E_LOG))

# The same suite with the runner on JetStream (EVENT_BUS=jetstream), over the
# same bin/ and client build. With test-systems-jetstream it adds about 10
# minutes to `make test` (443 s and 180 s on a shared 2-CPU machine).
.PHONY: test-e2e-jetstream
test-e2e-jetstream: deps browser tools build client-build postman-deps ## end-to-end with the system on JetStream
	$(call run-e2e,jetstream,$(E2E_LOG:.log=-jetstream.log))

E2E_LOG := /tmp/ticketing-e2e.log

# run-e2e runs the e2e suite on transport $(1), its output in $(2), and
# shows the outline (and the end of the output when it fails).
define run-e2e
@status=0; EVENT_BUS=$(1) go test -count=1 -timeout 20m -v ./infra/e2e/... > $(2) 2>&1 || status=$$?; \
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+[a-z_]+_test\.go:)' $(2) || true; \
	if [ $$status -ne 0 ]; then echo "--- last lines of $(2):"; tail -n 150 $(2); fi; \
	exit $$status
endef

# The pictures the READMEs show are committed in client/docs/screenshots; a
# browser-test run writes a fresh set to client/e2e/screenshots (ignored).
.PHONY: screenshots
screenshots: ## copy the READMEs' pictures from the last browser-test run into client/docs/screenshots
	@cd client && for f in docs/screenshots/*.png; do \
		taken=e2e/screenshots/$$(basename $$f); \
		if [ ! -f $$taken ]; then echo "client/$$taken is missing: run the browser tests first (make test-e2e)"; exit 1; fi; \
		cp $$taken $$f; echo "client/$$f"; \
	done

.PHONY: browser
browser: ## install Debian's Chromium for the browser tests, if missing
	@if ! command -v chromium >/dev/null; then \
		echo "installing chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

.PHONY: postman-deps
postman-deps: ## install newman for the Postman collection (skipped when up to date)
	@cd infra/postman && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi

## ---- running -------------------------------------------------------------------

.PHONY: run
run: deps tools build client-build ## run the whole system on this machine (prints the URL)
	@$(BIN)/runner

# Not a test: it starts a system of its own (bin/runner, free ports, a temporary
# data folder), loads it for a few minutes and prints figures against the
# database's ceiling, exiting non-zero if a target is missed (docs/benchmarks.md).
# BENCH_FLAGS passes flags, e.g. BENCH_FLAGS="-catalogue 1000".
.PHONY: bench
bench: deps tools build ## load benchmark: req/s, p50/p99 vs the database's ceiling, memory
	go run ./infra/loadbench $(BENCH_FLAGS)

# The bus alone, both transports in one run, against the servers in bin/
# (docs/benchmarks.md, "The event bus").
.PHONY: bench-bus
bench-bus: ## bus benchmark: publish→handled p50/p99 and events/s, stan and JetStream, 1 and 8 publishers
	cd common && TESTENV=local go test -run '^$$' -bench BenchmarkBus -benchtime 5000x -count 3 ./bus

.PHONY: build
build: ## build every service, the runner and redrive (README: Parked events) into bin/
	go build -o $(BIN)/ $(foreach s,$(wildcard $(SERVICES)),./$(s)) ./infra/runner ./common/bus/cmd/redrive ./common/bus/cmd/busmove

# npm ci only when the lock file changed since the last install; next build only
# when a source file is newer than the last build.
.PHONY: client-build
client-build: ## install the client's packages and build it (skipped when up to date)
	@if [ -f client/package.json ]; then \
		cd client; \
		if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi; \
		if [ ! -f .next/BUILD_ID ] || [ -n "$$(find . -path ./node_modules -prune -o -path ./.next -prune -o -newer .next/BUILD_ID -type f -print -quit)" ]; then \
			NEXT_TELEMETRY_DISABLED=1 npm run build; fi; \
	fi
