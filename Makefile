# ctid — see README.md. `make run` and `make test` work on a fresh machine with Go.
SHELL := /bin/bash
GO ?= go
BIN := bin/ctid
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG ?= configs/ctid.yaml
# Fuzz time per target for `make fuzz`.
FUZZTIME ?= 60s

.PHONY: all build run test test-prereqs vet fmt-check bench fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ctid

# Starts ctid on the embedded ARI emulator with configs/ctid.yaml; prints the console and
# /supervisor URLs and the demo logins (demo traffic is on in that file).
run: build
	@mkdir -p var
	./$(BIN) serve --config $(CONFIG) --log-format console

# Installs what the tests need when it is missing: PostgreSQL from Debian for the
# store suite (the tests start their own server in a temp dir; the system cluster is
# stopped so nothing is left on port 5432), and Chromium from Debian for the agent
# console test (headless, fake microphone).
test-prereqs:
	@test -d ../shared/ari-api-docs || { echo "make test: ../shared/ari-api-docs is missing (the ARI contract the tests check against); clone the project with shared/ beside it" >&2; exit 1; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "make test: installing PostgreSQL (Debian package postgresql) for the store tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql && \
	  { $$SUDO service postgresql stop || true; }; }
	@test -x /usr/bin/chromium || [ -n "$$CTID_CHROMIUM" ] || { \
	  echo "make test: installing Chromium (Debian package chromium) for the agent console browser test"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } || \
	  { echo "make test: could not install chromium (apt-get install -y chromium); TestAgentConsoleInChromium needs it (or CTID_CHROMIUM=/path/to/chromium)" >&2; exit 1; }; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Every test, with the race detector.
test: test-prereqs fmt-check vet
	$(GO) test -race -count=1 -timeout 20m ./...

# Benchmarks (performance goals live here, not in timed tests).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# Bounded fuzzing of the parsers that face the network or the operator.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime $(FUZZTIME) ./telephony/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZTIME) ./cti/desktop/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSkillExpr$$' -fuzztime $(FUZZTIME) ./queue/
	$(GO) test -run '^$$' -fuzz '^FuzzImportCSV$$' -fuzztime $(FUZZTIME) ./cti/lists/
	$(GO) test -run '^$$' -fuzz '^FuzzLoadConfig$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./cmd/ctid/
	$(GO) test -run '^$$' -fuzz '^FuzzOffer$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./softphone/

clean:
	rm -rf bin
