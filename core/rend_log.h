/*
 * rend_log.h - leveled logging to stderr.  Thread-safe (one write(2) per
 * line).  Levels are enum rend_log_level from rend/handler.h.
 */
#ifndef REND_LOG_H
#define REND_LOG_H

#include <rend/handler.h>

extern int rend_log_level; /* lines above this level are dropped */

void rend_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, with a "who" prefix (handler instance name); host->log. */
void rend_log_who(int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Look at stderr once (rend_main): under systemd, lines go to the journal
 * with a "<N>" priority and no timestamp of their own. */
void rend_log_init(void);

#define rend_log_enabled(level) ((level) <= rend_log_level)

#endif /* REND_LOG_H */
