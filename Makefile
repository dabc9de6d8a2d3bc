# Deskpilot's two commands: `make demo` and `make test`. Each installs missing Debian
# packages, configures and builds incrementally through CMake presets, then runs.
# PRESET=debug|asan picks another preset; JOBS sets build and test parallelism.
PRESET ?= default
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_DIR := $(if $(filter default,$(PRESET)),build,build-$(PRESET))

.PHONY: demo test build deps configure format clean

demo: build
	$(BUILD_DIR)/bin/deskpilot-demo

test: build
	ctest --preset $(PRESET) -j $(JOBS)

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

configure: deps
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake --preset $(PRESET)

deps:
	@bash tools/install-deps.sh

format:
	git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
