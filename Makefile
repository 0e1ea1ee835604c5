# scenario: run YAML scenarios against a real Consul Connect mesh.
# `make demo` and `make test` set everything up first on a fresh machine.

# The Consul that `make setup`, `make test` and the scenarios use. 1.15.4 is
# bin/consul (tools/consul); any other version X is bin/consul-X, built from
# tools/consul-X, which tools/consul/gen.sh X makes from that release's own
# go.mod (MPL releases only; 1.14.11 and 1.13.9 are committed).
CONSUL_VERSION ?= 1.15.4
DEFAULT_CONSUL_VERSION := 1.15.4
GO ?= go
ifeq ($(CONSUL_VERSION),$(DEFAULT_CONSUL_VERSION))
CONSUL_BIN := bin/consul
else
CONSUL_BIN := bin/consul-$(CONSUL_VERSION)
endif
export CONSUL := $(CURDIR)/$(CONSUL_BIN)

# The versions `make matrix` runs the library against.
MATRIX ?= 1.15.4 1.14.11 1.13.9

FUZZTIME ?= 5m

SOAK ?= 10
PAIRS ?= 7
DEMO_RUNS ?= 5

.PHONY: setup deps demo test-service-mesh start test unit vet fuzz soak bench clean matrix generate

setup: deps $(CONSUL_BIN) bin/consul-$(CONSUL_VERSION) bin/scenario

# socat is the demo's echo service and nc its client; ss (iproute2) finds
# a listener's process in the end-to-end tests and ip sets up network
# namespaces; curl reads an API in one library scenario; perl and setsid
# (util-linux) play descendants that escape their group in the cgroup
# tests; Graphviz's dot draws `scenario graph --svg` and the HTML report's
# topology; zsh and fish check the completion scripts `scenario completion`
# prints; Debian's chromium is the headless browser the HTML report's test
# drives. Installed with apt-get when root, else named. `make unit` needs
# none of them.
deps:
	@missing=""; \
	command -v socat >/dev/null 2>&1 || missing="$$missing socat"; \
	command -v nc >/dev/null 2>&1 || missing="$$missing netcat-openbsd"; \
	command -v pkill >/dev/null 2>&1 || missing="$$missing procps"; \
	command -v ss >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v perl >/dev/null 2>&1 || missing="$$missing perl"; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v zsh >/dev/null 2>&1 || missing="$$missing zsh"; \
	command -v fish >/dev/null 2>&1 || missing="$$missing fish"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "missing:$$missing; install them, e.g. sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

# Consul v$(CONSUL_VERSION) (MPL-2.0) built from the Go module proxy through
# tools/consul, which mirrors Consul's requirements without its replace
# directives. Takes a few minutes cold; skipped when bin/consul exists.
bin/consul:
	@mkdir -p bin
	@echo "building Consul v$(CONSUL_VERSION) into bin/consul (a few minutes the first time)"
	cd tools/consul && $(GO) build -mod=mod -trimpath -o ../../bin/consul github.com/hashicorp/consul
	@bin/consul version | head -1

# bin/consul-1.15.4 is bin/consul, so that every version has a bin/consul-X.
bin/consul-$(DEFAULT_CONSUL_VERSION): bin/consul
	ln -sf consul $@

# Any other version: its module is generated when missing (needs only the
# Go module proxy), then built; a few minutes of CPU each.
bin/consul-%:
	@mkdir -p bin
	@test -f tools/consul-$*/go.mod || tools/consul/gen.sh $*
	@echo "building Consul v$* into $@ (a few minutes the first time)"
	cd tools/consul-$* && $(GO) build -mod=mod -trimpath -o ../../$@ github.com/hashicorp/consul
	@$@ version | head -1

# -buildvcs=auto: `scenario version` names the commit when built from a
# git clone, whatever GOFLAGS says. CGO_ENABLED=0: a static binary starts
# about 1 ms sooner (no dynamic loader), and each run starts two (the
# runner and its reaper); nothing in it needs cgo.
bin/scenario: FORCE
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o bin/scenario ./cmd/scenario

# Developer tools pinned by tools/dev/go.mod, built from the module cache.
bin/staticcheck: tools/dev/go.mod tools/dev/go.sum
	@mkdir -p bin
	$(GO) build -C tools/dev -o $(CURDIR)/bin/staticcheck honnef.co/go/tools/cmd/staticcheck

FORCE:

# Runs both scenarios of the demo against the real mesh.
demo: setup
	bin/scenario run scenarios/basic.yaml scenarios/intentions.yaml

# The demo's name for the same thing.
test-service-mesh: demo

# The demo's mesh up with the Consul UI (http://127.0.0.1:8500/ui/) until
# Ctrl-C, then everything cleaned up; a failed step keeps it up to inspect.
start: setup
	bin/scenario up --keep-on-failure scenarios/basic.yaml

# go vet, staticcheck (pinned in tools/dev; a few seconds once its cache is
# warm), go.mod and go.sum tidy, gofmt.
vet: bin/staticcheck
	$(GO) vet ./...
	bin/staticcheck ./...
	$(GO) mod tidy -diff
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed" >&2; exit 1; }

# The full tier: every test, end-to-end ones against real consul, proxies
# and socat included, where a test that lacks what it needs fails rather
# than skips (SCENARIO_TEST_FULL=1, see internal/testenv); then a short
# fuzz of the loader: 30,000 inputs (about 10 s), counted rather than
# timed, since a timed -fuzztime can end in a spurious "context deadline
# exceeded" on a loaded machine (golang/go#75804, in go1.26); new inputs
# are minimized briefly, which otherwise stalls a short run. Needs root
# (network namespaces); see docs/guides/testing.md.
test: setup vet
	SCENARIO_TEST_FULL=1 $(GO) test -count=1 -timeout 30m ./...
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30000x -fuzzminimizetime=100x ./scenariofile

# A longer fuzz of the loader and validator; crashers land in
# scenariofile/testdata/fuzz/FuzzParse and are replayed by every `go test`.
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./scenariofile

# The short tier: every package, needing Go alone (no Consul, socat or
# root); the tests that need more are skipped, saying what they need.
# Under a minute; CI runs it beside the scenarios.
unit:
	$(GO) test -short ./...

# Every scenario in scenarios/ passes SOAK runs in a row, no retries.
soak: setup
	SCENARIO_TEST_FULL=1 SCENARIO_FILES='scenarios/*.yaml' SCENARIO_REPEAT=$(SOAK) $(GO) test -count=1 -v -run '^TestScenariosPassRepeatedly$$' -timeout 120m ./e2e

# The runner against the floor (the same work by hand), the demo's sleeps,
# parallel scaling and the runner's own overhead; see docs/performance.md.
bench: setup
	CGO_ENABLED=0 $(GO) build -o bin/bench ./bench
	bin/bench all -pairs $(PAIRS) -demo-runs $(DEMO_RUNS)

# The library (scenarios/*.yaml) against each Consul version of MATRIX, each
# built first (minutes each, the first time): one report and JUnit file per
# version under logs/matrix/, then a table of which scenario passed where.
# Not part of `make test`: building Consul costs minutes.
matrix: deps bin/scenario $(addprefix bin/consul-,$(MATRIX))
	@mkdir -p logs/matrix
	@for v in $(MATRIX); do \
	  echo "=== Consul $$v"; \
	  bin/consul-$$v version | head -1; \
	  bin/scenario run --no-color --parallel 2 --consul bin/consul-$$v --logs logs/matrix/$$v \
	    --junit logs/matrix/$$v.xml scenarios/*.yaml > logs/matrix/$$v.txt 2>&1; \
	  echo "exit status $$?"; grep -E '^(--- |[0-9]+ passed)' logs/matrix/$$v.txt; \
	done
	@bash tools/matrix-table.sh $(MATRIX)

clean:
	rm -rf logs/*/ bin/scenario

# The generated files (tests fail when they are stale): scenario.schema.json,
# docs/reference/*.md and docs/library.md from the code (cmd/scenario), and
# the package picture docs/internals/packages.{dot,svg} (docs).
generate:
	$(GO) generate ./cmd/scenario ./docs
