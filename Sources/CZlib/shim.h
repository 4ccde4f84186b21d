#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>

/// `inflateInit2` is a macro; Swift cannot call it directly.
static inline int czlib_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// glibc's `mallopt` (malloc.h is not in Swift's Glibc module): at most `arenas` malloc
/// arenas, and freed memory above `trim` bytes returned to the system. No-op elsewhere.
static inline void czlib_tune_malloc(int arenas, int trim) {
#if defined(__GLIBC__)
    mallopt(M_ARENA_MAX, arenas);
    mallopt(M_TRIM_THRESHOLD, trim);
#endif
}
#endif
