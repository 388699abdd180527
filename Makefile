# The two set-up commands of the README:
#   make demo   runs rootfarm on a generated demo image and talks to it with real clients
#   make test   installs what is missing, builds, and runs the default test suite
BUILD ?= build
JOBS ?= $(shell nproc)
# Long suites are kept out of the default run; `make test-all` runs them too.
CTEST_EXCLUDE ?= e2e-full|bench

.PHONY: all deps build test test-all demo format clean

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
	@scripts/demo.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	@rm -rf $(BUILD) .demo
