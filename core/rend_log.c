/* rend_log.c - leveled logging to stderr. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "rend_log.h"

int rend_log_level = REND_LOG_WARN;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
/* syslog priorities journald reads from a "<N>" line prefix */
static const char *const level_prio[] = { "<3>", "<4>", "<6>", "<7>" };

/* 1 when stderr is the journal: systemd sets JOURNAL_STREAM to the
 * device:inode of the stream it connected (sd_journal_stream_fd(3)). */
static int to_journal = -1;

static int
stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2
        || fstat(STDERR_FILENO, &st) != 0) {
        return 0;
    }
    return (unsigned long long)st.st_dev == dev
           && (unsigned long long)st.st_ino == ino;
}

void
rend_log_init(void)
{
    to_journal = stderr_is_journal();
}

static void
vlog(int level, const char *who, const char *fmt, va_list ap)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    int n;

    int li = level < 0 ? 0 : level > 3 ? 3 : level;

    if (!rend_log_enabled(level)) {
        return;
    }
    if (to_journal == 1) {
        /* journald stamps the time itself; it takes the priority */
        n = snprintf(line, sizeof(line), "%s%s ", level_prio[li],
                     level_names[li]);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                     level_names[li]);
    }
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
