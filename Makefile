# sipmedia: sipproxy (SIP proxy/registrar) + mediad (rtpengine-compatible media daemon).
# All Go modules live in one workspace (go.work); binaries go to bin/.

GO       ?= go
MODULES  := ngproto mediad sipproxy kmod e2e
PKGS     := $(addsuffix /...,$(addprefix ./,$(MODULES)))
BIN      := bin
# Short fuzz runs for `make fuzz`; raise FUZZTIME for real campaigns.
FUZZTIME ?= 10s
TESTTIMEOUT ?= 25m

.PHONY: all build run test test-unit deps lint vet fmt-check staticcheck fuzz bench bench-ng bench-calls bench-relay bench-sip bench-kernel clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/mediad ./mediad/cmd/mediad
	$(GO) build -o $(BIN)/sipproxy ./sipproxy/cmd/sipproxy

# Starts the daemons on loopback with defaults; Ctrl-C stops everything.
run: build
	@scripts/run.sh

# Installs what the tests need (idempotent), builds, vets and runs every
# test; then every test again under the race detector. GOFLAGS reaches the
# `go build` of the daemons the process tests start, so sipproxy and mediad
# run race-instrumented under real traffic, and halt_on_error makes a race
# in one of them kill it and fail its test (a test binary's own races fail
# it anyway).
test: deps build lint
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(PKGS)
	GOFLAGS=-race GORACE=halt_on_error=1 $(GO) test -count=1 -timeout $(TESTTIMEOUT) $(PKGS)

# Unit and integration tests without the dependency step (for quick loops).
test-unit: build
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(PKGS)

deps:
	@scripts/install-deps.sh

lint: vet fmt-check staticcheck

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Pinned; fetched from the module proxy on first use.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

# Runs every fuzz target briefly (FUZZTIME each).
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

# Every benchmark; each prints our figures beside the peer's, measured in the same run.
bench: bench-ng bench-relay bench-sip bench-calls bench-kernel

bench-ng: deps build
	$(GO) run ./e2e/cmd/benchng

# Full calls with media control (sipp -> proxy -> sipp, offer/answer/delete)
# through sipproxy+mediad and Kamailio+rtpengine, rate raised until calls
# fail. BENCH_CALLS_ARGS e.g. "-rates 200,400,800 -duration 10s".
bench-calls: deps build
	$(GO) run ./e2e/cmd/benchcalls -sipproxy $(BIN)/sipproxy -mediad $(BIN)/mediad $(BENCH_CALLS_ARGS)

# REGISTER and call rates through sipproxy and Kamailio 5.6 (same sipp scenarios).
# PAIRS, REGS, RRATE, CALLS, CRATE and ROUNDS tune it.
bench-sip: deps build
	sipproxy/bench/bench-sip.sh $(BIN)/sipproxy

# Userspace media relay, mediad vs rtpengine (delivered, loss, CPU per
# packet, RSS per idle call). BENCH_RELAY_ARGS e.g. "-calls 1000 -duration 20s".
bench-relay: build
	$(GO) run ./e2e/cmd/benchrelay $(BENCH_RELAY_ARGS)

# Kernel fast path vs userspace relay in an A-R-B netns topology (root):
# the real mediad with -t -1 (m-user) and -t 0 (m-kernel), plain routing as
# the baseline; fixed points at 1000 and 5000 calls, then each mode's
# highest call count at 0 loss. BENCH_KERNEL_ARGS e.g.
# "-calls 1000 -ramp=false" or "-ramp-start 1500 -tries 1"
# ("-mediad=" runs kmod's stand-in relay instead).
bench-kernel: build
	$(GO) run ./kmod/cmd/benchkernel -mediad $(BIN)/mediad $(BENCH_KERNEL_ARGS)

clean:
	rm -rf $(BIN)
