# Deskpilot's two commands: `make demo` and `make test`. Each installs missing Debian
# packages, configures and builds incrementally through CMake presets, then runs.
# PRESET=debug|asan picks another preset; JOBS sets build and test parallelism.
PRESET ?= default
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_DIR := $(if $(filter default,$(PRESET)),build,build-$(PRESET))

.PHONY: demo demo-live demo-replay test build deps configure format clean

# The agent live on a private Xvfb: deskpilot-nano on the CPU engine, on a sandbox task
# (eval/tasks/sandbox.json). Exit 0 when the task was done, 3 when it was not. The default task
# is one the committed checkpoint does (its model card, models/deskpilot-nano/README.md, lists
# them); it is deskpilot-demo's own (app/demo/live_demo.h), so it is named in one place.
# DEMO_TASK=ID picks another.
DEMO_MODEL ?= models/deskpilot-nano
DEMO_TASK ?=
demo: build
	$(BUILD_DIR)/bin/deskpilot-demo --model-dir $(DEMO_MODEL) $(if $(DEMO_TASK),--task $(DEMO_TASK))

# The former name of `make demo`.
demo-live: demo

# A recorded agent session replayed on a private Xvfb, checking the screen before each action.
demo-replay: build
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
