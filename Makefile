# Entry points. `make test` installs what is missing, builds (Release) and runs every test.
JOBS ?= $(shell nproc)
BUILD ?= build
# nvcc is often outside PATH on CUDA machines; the build picks it up from here when present.
export PATH := $(PATH):/usr/local/cuda/bin

.PHONY: all deps build test test-sanitize train clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Trains SOFT on Fashion-MNIST (configs/train/fmnist.json) on the CPU with every core; installs the
# dataset (Debian's dataset-fashion-mnist) when missing. The run folder is runs/fmnist (README).
train: deps
	@bash scripts/install-deps.sh train
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS) --target soft_cli
	$(BUILD)/soft train --config configs/train/fmnist.json --force

# The tests again under AddressSanitizer + UndefinedBehaviorSanitizer (CPU only, -O1).
test-sanitize: deps
	cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFT_SANITIZE=ON -DSOFT_CUDA=OFF \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
	cmake --build $(BUILD)-sanitize -j $(JOBS)
	cd $(BUILD)-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Fuzzing (tests/fuzz/, docs/RELIABILITY.md): clang 14 + libFuzzer, ASan + UBSan, in $(BUILD)-fuzz.
# Replays the seeds and tests/data/bad/ through every harness, then fuzzes each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 10
.PHONY: fuzz test-tsan
fuzz: deps
	@bash scripts/install-deps.sh fuzz
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFT_FUZZ=ON \
	  -DSOFT_CUDA=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzz_harnesses
	bash tests/fuzz/run.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

# The data loader's tests (tests/test_loader*.cpp, up to 16 workers) under ThreadSanitizer; 4 threads
# for parallel_for, so the ops the workers run also overlap on this 2-core machine.
test-tsan: deps
	cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFT_TSAN=ON -DSOFT_CUDA=OFF \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
	cmake --build $(BUILD)-tsan -j $(JOBS) --target soft_tsan_tests
	OMP_NUM_THREADS=4 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(BUILD)-tsan/tests/fuzz/soft_tsan_tests

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize $(BUILD)-fuzz $(BUILD)-tsan
