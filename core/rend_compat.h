/*
 * rend_compat.h - Netflix Rend's command-line flags.  When rend runs
 * without --config FILE and any of these is given, they are turned into the
 * equivalent Lua config, so an operator can switch from Rend by changing
 * the binary only.
 */
#ifndef REND_COMPAT_H
#define REND_COMPAT_H

#include <getopt.h>
#include <stddef.h>

/* Append the compat long options to opts (room for max); returns count. */
size_t rend_compat_options(struct option *opts, size_t max);
/* Handle option `opt` (a value from those options).  0, or -1 if not ours. */
int rend_compat_option(int opt, const char *arg);
/* Was any compat flag given? */
int rend_compat_used(void);
/* The equivalent config (malloc'd), or NULL with err filled. */
char *rend_compat_config(char *err, size_t errlen);
/* The main port the flags ask for, or -1. */
int rend_compat_port(void);
/* Help text for the flags. */
const char *rend_compat_usage(void);

#endif /* REND_COMPAT_H */
