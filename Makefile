# The two set-up commands of the README:
#   make demo   a VM network-boots from rootfarm (DHCP, TFTP, NFSv3 root) and reaches a shell
#   make test   installs what is missing, builds, and runs the default test suite
BUILD ?= build
JOBS ?= $(shell nproc)
# Long suites are kept out of the default run; `make test-all` runs them too.
CTEST_EXCLUDE ?= e2e-full|bench|install|soak|fuzz|conformance

# The VM demo needs root for its network namespace and tap device.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all deps build test test-all demo demo-loopback format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 900 -LE '$(CTEST_EXCLUDE)'

test-all: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 3600

demo: build
	@$(SUDO) tests/e2e/demo.sh --rootfarm $(BUILD)/cli/rootfarm

# Without a VM or root: serves a generated image on 127.0.0.1 and uses it with curl and libnfs.
demo-loopback: build
	@scripts/demo.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	@rm -rf $(BUILD) .demo
