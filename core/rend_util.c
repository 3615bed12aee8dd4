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
    __atomic_store_n(&clock_now, (int64_t)ts.tv_sec, __ATOMIC_RELAXED);
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

size_t
rend_u64toa(uint64_t v, char *p)
{
    char tmp[21];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}
