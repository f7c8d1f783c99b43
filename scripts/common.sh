# Shared by the scripts: where build outputs go. Cargo's target directory lives outside the
# clone so a fresh clone on the same machine (CI) reuses the compiled llama.cpp.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgebench/target}"
# ccache makes the llama.cpp C/C++ builds nearly free after the first one.
if command -v ccache >/dev/null; then
    export CMAKE_C_COMPILER_LAUNCHER="${CMAKE_C_COMPILER_LAUNCHER:-ccache}"
    export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}"
fi
EDGEBENCH_RELEASE="$CARGO_TARGET_DIR/release/edgebench"

# llama-cpp-sys-2 configures llama.cpp's CMake build once and keeps that cache: a target
# directory configured before .cargo/config.toml pinned LLAMA_LIB_PROFILE=Release keeps building
# llama.cpp at -O2 ("RelWithDebInfo"), ~15-20% slower prompt processing than llama-bench; one
# configured before the CMAKE_C_FLAGS there was built with cc-rs's -fPIC -ffunction-sections
# (~2% of prompt throughput) and a different code layout from llama-bench's; one configured
# before scripts/cmake/llama-cpp-no-amx.cmake has ggml's AMX kernels, which crash on AMX CPUs.
# Drop such stale builds so cargo configures them again.
llama_c_flags() {
    [ -n "${CMAKE_C_FLAGS+set}" ] && { printf '%s\n' "$CMAKE_C_FLAGS"; return; }
    python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["env"]["CMAKE_C_FLAGS"])' \
        "$ROOT/.cargo/config.toml"
}
drop_stale_llama_builds() {
    local cache
    for cache in "$CARGO_TARGET_DIR"/*/build/llama-cpp-sys-2-*/out/build/CMakeCache.txt; do
        [ -f "$cache" ] || continue
        if ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$cache" ||
            ! grep -qxF "CMAKE_C_FLAGS:STRING=$(llama_c_flags)" "$cache" ||
            ! grep -q '^CMAKE_PROJECT_INCLUDE:.*llama-cpp-no-amx\.cmake$' "$cache"; then
            printf '[edgebench] %s was configured with other flags; rebuilding llama.cpp\n' \
                "${cache%/out/build/CMakeCache.txt}" >&2
            rm -rf "${cache%/out/build/CMakeCache.txt}"
        fi
    done
}

# Benchmark scripts run in a smoke mode with EDGEBENCH_SMOKE=1: a few rows, one round, small
# models, no set-up step, so the test suite can run every one of them (tests/scripts.rs) and
# none can silently rot. EDGEBENCH_BIN names an edgebench binary to use instead of building the
# release one (the tests pass their own build).
smoke() { [ "${EDGEBENCH_SMOKE:-0}" = 1 ]; }
edgebench_bin() {
    if [ -n "${EDGEBENCH_BIN:-}" ]; then
        printf '%s\n' "$EDGEBENCH_BIN"
    else
        cargo build --release --quiet -p edgebench >&2
        printf '%s\n' "$EDGEBENCH_RELEASE"
    fi
}

# A given binary means nothing is built here: leave the target directory alone.
[ -n "${EDGEBENCH_BIN:-}" ] || drop_stale_llama_builds
