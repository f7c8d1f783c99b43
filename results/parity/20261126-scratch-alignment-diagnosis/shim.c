#define _GNU_SOURCE
#include <stdlib.h>
#include <stdio.h>
#include <stdint.h>
// operator new[](size_t): SHIM_ALIGN=n forces n-byte alignment for >=64 KiB, SHIM_OFF adds an offset (>=16)
#define MAGIC 0x5348494d4f464653ULL
void * _Znam(size_t n) {
    static int align = -1, off = 0;
    if (align < 0) { const char *a = getenv("SHIM_ALIGN"); align = a ? atoi(a) : 0; const char *o = getenv("SHIM_OFF"); off = o ? atoi(o) : 0; }
    void * p;
    if (align && n >= 65536) {
        if (off) { char *q; posix_memalign((void**)&q, align, n + align); p = q + off; ((uint64_t*)p)[-1] = (uint64_t)q; ((uint64_t*)p)[-2] = MAGIC; }
        else posix_memalign(&p, align, n);
    } else p = malloc(n ? n : 1);
    if (n >= 65536 && getenv("SHIM_LOG")) fprintf(stderr, "new[] %zu -> %p (mod64=%lu)\n", n, p, (uintptr_t)p % 64);
    return p;
}
static void del(void * p) {
    if (p && getenv("SHIM_OFF") && ((uintptr_t)p % 64) == (uintptr_t)atoi(getenv("SHIM_OFF")) && ((uint64_t*)p)[-2] == MAGIC) { free((void*)((uint64_t*)p)[-1]); return; }
    free(p);
}
void _ZdaPv(void * p) { del(p); }
void _ZdaPvm(void * p, size_t n) { (void)n; del(p); }
