/* rend_log.c - leveled logging to stderr. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rend_log.h"

int rend_log_level = REND_LOG_WARN;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

static void
vlog(int level, const char *who, const char *fmt, va_list ap)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    int n;

    if (!rend_log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                 level_names[level < 0 ? 0 : level > 3 ? 3 : level]);
    if (who != NULL && n < (int)sizeof(line)) {
        n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s] ", who);
    }
    if (n < (int)sizeof(line)) {
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    }
    if (n >= (int)sizeof(line) - 1) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}

void
rend_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, NULL, fmt, ap);
    va_end(ap);
}

void
rend_log_who(int level, const char *who, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, who, fmt, ap);
    va_end(ap);
}
