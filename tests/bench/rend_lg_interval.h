/*
 * rend_lg_interval.h - per-interval throughput and latency of the load
 * generator (--interval SECS).
 *
 * The measured window is cut into slots of SECS seconds from its start t0.
 * Each worker thread records into its own struct rend_lg_iv_local and, when
 * a reply (or its loop tick) falls in a later slot, merges what it has into
 * the shared slot under a mutex.  The main thread prints a slot once its end
 * has passed by a grace period longer than a worker's loop tick.
 */
#ifndef REND_LG_INTERVAL_H
#define REND_LG_INTERVAL_H

#include "rend_lg_hist.h"

#include <stdint.h>

/* Time after a slot's end before the main thread prints it: workers wake at
 * least every 10 ms, so by then each has published the slot. */
#define REND_LG_IV_GRACE_NS (100ull * 1000000ull)

/* One worker's records of its current slot.  Owned by that worker. */
struct rend_lg_iv_local {
    unsigned slot;
    uint64_t ops;
    struct rend_lg_hist hist;
};

/* Sets up the slots for a window of duration_s cut into interval_s pieces.
 * Main thread, before the workers record anything.  Returns 0 or -1. */
int rend_lg_iv_init(double interval_s, double duration_s);

/* Marks the window start t0 (monotonic ns).  Main thread, before the
 * workers start recording. */
void rend_lg_iv_start(uint64_t t0);

/* Records one reply of latency ns received at now.  Worker thread, on its
 * own l. */
void rend_lg_iv_record(struct rend_lg_iv_local *l, uint64_t now, uint64_t ns);

/* Publishes l if now is past its slot.  Worker thread, on its own l. */
void rend_lg_iv_tick(struct rend_lg_iv_local *l, uint64_t now);

/* Merges l into the shared slot and empties it.  Worker thread. */
void rend_lg_iv_publish(struct rend_lg_iv_local *l);

/* Number of slots (0 when --interval is off).  Any thread. */
unsigned rend_lg_iv_slots(void);

/* Prints slot k as one "INTERVAL" line on stdout and flushes.  Main thread;
 * safe while workers run (takes the mutex). */
void rend_lg_iv_print(unsigned k);

#endif
