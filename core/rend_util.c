/* rend_util.c - clock, strict number parsing, exptime conversion. */
#include "config.h"

#include <time.h>

#include <rend/handler.h>

#include "rend_util.h"

static int64_t clock_now;    /* cached unix seconds */
static int64_t clock_offset; /* test offset */

void
rend_clock_tick(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    /* every worker ticks every loop iteration: store only when the second
     * changed, so the workers don't bounce the cache line */
    if (__atomic_load_n(&clock_now, __ATOMIC_RELAXED) != (int64_t)ts.tv_sec) {
        __atomic_store_n(&clock_now, (int64_t)ts.tv_sec, __ATOMIC_RELAXED);
    }
}

int64_t
rend_now(void)
{
    int64_t t = __atomic_load_n(&clock_now, __ATOMIC_RELAXED);

    if (t == 0) {
        rend_clock_tick();
        t = __atomic_load_n(&clock_now, __ATOMIC_RELAXED);
    }
    return t + __atomic_load_n(&clock_offset, __ATOMIC_RELAXED);
}

void
rend_clock_set_offset(int64_t seconds)
{
    __atomic_store_n(&clock_offset, seconds, __ATOMIC_RELAXED);
}

int
rend_parse_u64(const char *s, size_t n, uint64_t *out)
{
    return rend_counter_parse(s, n, out); /* 1..20 digits, nothing else */
}

int
rend_parse_u32(const char *s, size_t n, uint32_t *out)
{
    uint64_t v;

    if (rend_parse_u64(s, n, &v) != 0 || v > UINT32_MAX) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int
rend_parse_i64(const char *s, size_t n, int64_t *out)
{
    uint64_t v;
    int neg = 0;

    if (n > 0 && s[0] == '-') {
        neg = 1;
        s++;
        n--;
    }
    if (rend_parse_u64(s, n, &v) != 0) {
        return -1;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return -1;
        }
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) {
            return -1;
        }
        *out = (int64_t)v;
    }
    return 0;
}

int64_t
rend_exptime_abs(int64_t exptime, int64_t now)
{
    if (exptime == 0) {
        return 0;
    }
    if (exptime < 0) {
        return -1;
    }
    if (exptime <= REND_REALTIME_MAXDELTA) {
        return now + exptime;
    }
    return exptime <= now ? -1 : exptime;
}

/* Two decimal digits per step, "00".."99". */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* ten_pow[i] = 10^i, the smallest number of i + 1 digits. */
static const uint64_t ten_pow[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
    10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
    100000000000ull, 1000000000000ull, 10000000000000ull,
    100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull,
    10000000000000000000ull,
};

/* Write r (under 100) as two digits just before *e. */
static inline void
put_pair(char **e, unsigned r)
{
    *--*e = digit_pairs[r * 2 + 1];
    *--*e = digit_pairs[r * 2];
}

size_t
rend_u64toa(uint64_t v, char *p)
{
    size_t n;
    uint32_t u;
    char *e;

    /* Count the digits first, then write them back to front two at a
     * time: half the divisions of one digit per step, and no reversal.
     * The count: bits * 1233 / 4096 (1233 / 4096 ~ log10(2)) is the
     * digit count of the smallest number with v's bit length, less one;
     * one comparison settles whether v has one digit more. */
    {
        unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
        unsigned t = (bits * 1233) >> 12;   /* at most 19 */
        n = t + (v >= ten_pow[t]);
        n += (n == 0);                      /* v == 0: one digit */
    }
    e = p + n;
    /* 64-bit divisions only while v needs them, then 32-bit ones (cheaper) */
    for (; v > UINT32_MAX; v /= 100) {
        put_pair(&e, (unsigned)(v % 100));
    }
    for (u = (uint32_t)v; u >= 100; u /= 100) {
        put_pair(&e, u % 100);
    }
    if (u >= 10) {
        put_pair(&e, u);
    } else {
        *--e = (char)('0' + u);
    }
    return n;
}
