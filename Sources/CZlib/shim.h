#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <stdint.h>
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

/*
 * ISA-L's igzip inflater, without a build or link dependency: compiled only when
 * <isa-l/igzip_lib.h> is present at build time, and its functions taken from libisal.so.2 with
 * dlopen at run time (once per process). Without either, czlib_isal_available() is 0 and the
 * reader uses zlib. Swift sees the inflate state only as an opaque pointer.
 *
 * The state reads one gzip member's deflate data and verifies its trailer (CRC-32 and ISIZE,
 * ISAL_GZIP_NO_HDR_VER); the caller reads the member header itself, because ISA-L's own header
 * reader forgets the header's flags when a header spans two calls.
 */
typedef struct czlib_isal_stream czlib_isal_stream;

/// isal_inflate's results that the reader tells apart (the values of igzip_lib.h).
static const int czlib_isal_ok = 0;
static const int czlib_isal_invalid_block = -1;
static const int czlib_isal_invalid_symbol = -2;
static const int czlib_isal_invalid_lookback = -3;
static const int czlib_isal_incorrect_checksum = -6;

#if __has_include(<isa-l/igzip_lib.h>)
#include <dlfcn.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdlib.h>

_Static_assert(ISAL_DECOMP_OK == 0 && ISAL_INVALID_BLOCK == -1 && ISAL_INVALID_SYMBOL == -2
               && ISAL_INVALID_LOOKBACK == -3 && ISAL_INCORRECT_CHECKSUM == -6,
               "igzip_lib.h's return values changed");

/// The ISA-L functions the reader calls, resolved from libisal.so.2.
typedef struct {
    void (*init)(struct inflate_state *);
    void (*reset)(struct inflate_state *);
    int (*inflate)(struct inflate_state *);
} czlib_isal_functions;

/// The resolved functions; all NULL until (or unless) czlib_isal_resolve succeeded.
static inline czlib_isal_functions *czlib_isal_slot(void) {
    static czlib_isal_functions functions;
    return &functions;
}

/// Loads libisal.so.2 and resolves its inflate functions; leaves the slot empty on any failure.
static inline void czlib_isal_resolve(void) {
    void *library = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return;
    czlib_isal_functions found;
    found.init = (void (*)(struct inflate_state *))dlsym(library, "isal_inflate_init");
    found.reset = (void (*)(struct inflate_state *))dlsym(library, "isal_inflate_reset");
    found.inflate = (int (*)(struct inflate_state *))dlsym(library, "isal_inflate");
    if (found.init == NULL || found.reset == NULL || found.inflate == NULL) {
        dlclose(library);
        return;
    }
    *czlib_isal_slot() = found;  // the library stays loaded for the life of the process
}

/// The functions, loaded on first use (thread-safe); NULL when ISA-L cannot be loaded.
static inline const czlib_isal_functions *czlib_isal_loaded(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, czlib_isal_resolve);
    const czlib_isal_functions *functions = czlib_isal_slot();
    return functions->inflate != NULL ? functions : NULL;
}

/// 1 when ISA-L can be used: built with its header and libisal.so.2 loads.
static inline int czlib_isal_available(void) {
    return czlib_isal_loaded() != NULL;
}

/// A new inflate state for gzip members' deflate data (trailer verified); NULL when ISA-L is
/// unavailable or memory is short. Release it with czlib_isal_free.
static inline czlib_isal_stream *czlib_isal_new(void) {
    const czlib_isal_functions *functions = czlib_isal_loaded();
    if (functions == NULL) return NULL;
    struct inflate_state *state = malloc(sizeof *state);
    if (state == NULL) return NULL;
    functions->init(state);
    state->crc_flag = ISAL_GZIP_NO_HDR_VER;
    return (czlib_isal_stream *)state;
}

static inline void czlib_isal_free(czlib_isal_stream *stream) {
    free(stream);
}

/// Prepares the state for the next member's deflate data (keeps the trailer check).
static inline void czlib_isal_reset(czlib_isal_stream *stream) {
    czlib_isal_loaded()->reset((struct inflate_state *)stream);
}

/// One isal_inflate call from `in` into `out`; sets how many bytes it consumed and wrote.
/// On corrupt data isal_inflate may leave avail_in past the input it was given (its decoder
/// reads ahead: 1 byte more was seen on an invalid distance), so the counts are clamped to what
/// was given; the caller's input buffer has slack after its end for such a read-ahead.
static inline int czlib_isal_inflate(czlib_isal_stream *stream, const uint8_t *in, uint32_t in_count,
                                     uint8_t *out, uint32_t out_count,
                                     uint32_t *in_used, uint32_t *out_used) {
    struct inflate_state *state = (struct inflate_state *)stream;
    state->next_in = (uint8_t *)in;
    state->avail_in = in_count;
    state->next_out = out;
    state->avail_out = out_count;
    int status = czlib_isal_loaded()->inflate(state);
    *in_used = state->avail_in > in_count ? in_count : in_count - state->avail_in;
    *out_used = state->avail_out > out_count ? out_count : out_count - state->avail_out;
    return status;
}

/// 1 once the member's deflate data and its verified trailer were read.
static inline int czlib_isal_finished(const czlib_isal_stream *stream) {
    return ((const struct inflate_state *)stream)->block_state == ISAL_BLOCK_FINISH;
}

/// The CRC-32 of the member's output so far (complete once the deflate data ended).
static inline uint32_t czlib_isal_crc(const czlib_isal_stream *stream) {
    return ((const struct inflate_state *)stream)->crc;
}

#else  // built without ISA-L's header: never available

static inline int czlib_isal_available(void) { return 0; }
static inline czlib_isal_stream *czlib_isal_new(void) { return NULL; }
static inline void czlib_isal_free(czlib_isal_stream *stream) { (void)stream; }
static inline void czlib_isal_reset(czlib_isal_stream *stream) { (void)stream; }
static inline int czlib_isal_inflate(czlib_isal_stream *stream, const uint8_t *in, uint32_t in_count,
                                     uint8_t *out, uint32_t out_count,
                                     uint32_t *in_used, uint32_t *out_used) {
    (void)stream; (void)in; (void)in_count; (void)out; (void)out_count;
    *in_used = 0;
    *out_used = 0;
    return czlib_isal_invalid_block;
}
static inline int czlib_isal_finished(const czlib_isal_stream *stream) { (void)stream; return 0; }
static inline uint32_t czlib_isal_crc(const czlib_isal_stream *stream) { (void)stream; return 0; }

#endif
#endif
