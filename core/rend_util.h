/*
 * rend_util.h - small helpers: the clock, strict decimal parsing, memcached
 * exptime conversion.
 */
#ifndef REND_UTIL_H
#define REND_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define REND_REALTIME_MAXDELTA (60 * 60 * 24 * 30) /* memcached's 30 days */

/* Unix time in seconds.  rend_clock_tick() refreshes the cached value (each
 * worker calls it once per loop iteration, after the poll returns and before
 * any callback, so a request never sees a second older than its arrival
 * beyond the coarse clock's few ms); rend_now() reads it.  A test
 * offset can be added with rend_clock_set_offset(). */
void rend_clock_tick(void);
int64_t rend_now(void);
void rend_clock_set_offset(int64_t seconds);

/* Strict decimal parsers over [s, s+n): no sign (u64/u32), no spaces, no
 * trailing bytes, no overflow.  Return 0 on success, -1 otherwise. */
int rend_parse_u64(const char *s, size_t n, uint64_t *out);
int rend_parse_u32(const char *s, size_t n, uint32_t *out);
/* Optional leading '-'; fits int64. */
int rend_parse_i64(const char *s, size_t n, int64_t *out);

/* memcached exptime (0 never, <0 expired, <=30 days relative, else
 * absolute) to the ABI's absolute form (0 never, -1 expired). */
int64_t rend_exptime_abs(int64_t exptime, int64_t now);

/* Write the decimal form of v at p (at least 21 bytes); returns length. */
size_t rend_u64toa(uint64_t v, char *p);

#endif /* REND_UTIL_H */
