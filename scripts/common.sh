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
