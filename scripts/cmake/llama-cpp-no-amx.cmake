# Included after every project() call of the llama.cpp builds (CMAKE_PROJECT_INCLUDE): the crate's
# (.cargo/config.toml), llama-bench's and llama-batched-bench's (scripts/build-llama-bench) and
# llama-server's (scripts/setup), so all three compile the same kernels.
#
# Why: llama.cpp builds with -march=native, and on a CPU with AMX (Intel Sapphire Rapids and
# later) that compiles ggml's AMX matmul kernels. In the llama.cpp these builds pin, those kernels
# die with SIGILL at their first tile instruction (`tilezero` in tinygemm_kernel_amx): the tile
# configuration they load is not the one the kernels need (upstream: ggml-org/llama.cpp pull
# request 26954, "request XFD XTILEDATA permission per thread", which also moves the
# configuration out of the stack). llama-server, llama-bench and the in-process engine all crash
# on the first prompt. Without AMX, ggml uses its AVX-512/VNNI kernels and the weights' own
# layout. Only x86 compilers know these flags; on other CPUs nothing changes.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64)$"
   AND CMAKE_C_COMPILER_ID MATCHES "GNU|Clang"
   AND NOT CMAKE_C_FLAGS MATCHES "-mno-amx-tile")
    string(APPEND CMAKE_C_FLAGS " -mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
    string(APPEND CMAKE_CXX_FLAGS " -mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
endif()
