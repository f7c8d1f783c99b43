//! C++ `operator new[]` for the llama.cpp linked into this binary: large arrays start on a
//! cache line.
//!
//! ggml's CPU backend allocates its per-graph scratch ("work") buffer with `new uint8_t[n]`,
//! which promises only 16-byte alignment. Its kernels carve per-thread tiles out of that buffer
//! at cache-line multiples from its start (flash attention's Q/K/V tiles, the quantized
//! activations of every matrix product) and stream through them with 32/64-byte vector loads;
//! when the buffer starts mid-line, every such load straddles two lines. Where it starts is heap
//! luck: in llama-bench the 2.1 MiB pp512 buffer happened to start on a line, in edgebench 48
//! bytes past one, and prompt processing ran at 0.95× llama-bench's speed (issue #3). With this
//! definition it always starts on a line, in every program layout.
//!
//! Defined in the executable, it binds llama.cpp's calls at link time (libstdc++'s own stays in
//! use for everything else: shared libraries do not see it). Memory from `posix_memalign` is
//! released by `free`, which is what `operator delete[]` calls, so deletion needs no override.
//! Itanium C++ ABI only (Linux, Android, macOS); on Windows the name differs and nothing changes.

#![cfg(all(unix, not(target_env = "msvc")))]
// An allocator symbol is unsafe by nature: exported unmangled, called from C++.
#![allow(unsafe_code)]

use std::ffi::c_void;

/// Arrays from this size up are aligned; smaller ones are left to `malloc` as before.
const LARGE: usize = 64 * 1024;
/// A cache line on the x86-64 and arm64 cores llama.cpp targets (Apple M-series: 128 bytes, a
/// multiple, so a 64-byte start is still never worse than what `new` gave).
const CACHE_LINE: usize = 64;

/// `operator new[](std::size_t)`. Out of memory aborts with a message. libstdc++'s version
/// would throw `std::bad_alloc`, but `llama_decode` does not catch it, and an exception reaching
/// Rust through the C API aborts the process just the same.
#[unsafe(no_mangle)]
pub extern "C" fn _Znam(size: usize) -> *mut c_void {
    let mut p: *mut c_void = std::ptr::null_mut();
    if size >= LARGE {
        // SAFETY: posix_memalign writes the pointer only; CACHE_LINE is a power of two and a
        // multiple of the pointer size, as it requires.
        if unsafe { libc::posix_memalign(&mut p, CACHE_LINE, size) } != 0 {
            p = std::ptr::null_mut();
        }
    } else {
        // SAFETY: plain malloc; C++ requires a unique non-null pointer even for size 0.
        p = unsafe { libc::malloc(size.max(1)) };
    }
    if p.is_null() {
        eprintln!("error: out of memory allocating {size} bytes for llama.cpp");
        std::process::abort();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_arrays_start_on_a_cache_line_and_free_cleanly() {
        for size in [LARGE, 2_244_800, 1 << 24] {
            let p = _Znam(size);
            assert_eq!(p as usize % CACHE_LINE, 0, "{size} bytes at {p:p}");
            // SAFETY: p points to `size` writable bytes from posix_memalign; free releases it.
            unsafe {
                std::ptr::write_bytes(p.cast::<u8>(), 0xAB, size);
                libc::free(p);
            }
        }
    }

    #[test]
    fn small_and_empty_arrays_still_get_distinct_memory() {
        let (a, b) = (_Znam(0), _Znam(24));
        assert!(!a.is_null() && !b.is_null() && a != b);
        // SAFETY: both come from malloc.
        unsafe {
            libc::free(a);
            libc::free(b);
        }
    }
}
