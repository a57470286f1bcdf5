# Thin wrapper around CMake (as neovim does). Real build logic lives in CMakeLists.txt.
#   make          build into build/
#   make demo     install missing packages, build, render patches/demo.lua to demo.wav
#   make test     build and run every test through CTest
#   make bench    run the benchmarks (sox and ffmpeg side by side)
#   make docs     regenerate docs/nodes.md from the node descriptors
#   make clean    remove build/

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure
MIXGRAPH = $(BUILD_DIR)/mixgraph

.PHONY: all build deps demo test bench docs clean

all: build

deps:
	@pkg-config --exists lua5.4 sndfile samplerate portaudio-2.0 fftw3f rubberband jack && command -v jackd >/dev/null && command -v cmake >/dev/null \
	  || tools/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: deps
	$(MAKE) build
	$(MIXGRAPH) render patches/demo.lua -o demo.wav
	$(MIXGRAPH) analyze demo.wav

test: deps
	$(MAKE) build
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS)

bench: deps
	@tools/install-deps --bench >/dev/null
	$(MAKE) build
	cmake --build $(BUILD_DIR) --target bench

docs: build
	$(MIXGRAPH) nodes --markdown > docs/nodes.md

clean:
	rm -rf $(BUILD_DIR)
