/*
 * orch_check.h - Check assertions over orch_util outcomes, shared by the
 * tests/orch programs.
 */
#ifndef ORCH_CHECK_H
#define ORCH_CHECK_H

#include <check.h>
#include <stdlib.h>

#include "orch_util.h"

/* expr is an orch outcome; c is the orch_conn it ran on. */
#define EXPECT_RES(c, expr, want)                                          \
    do {                                                                   \
        int res_ = (expr);                                                 \
        ck_assert_msg(res_ == (want), "%s (%s): got %s, want %s; last "   \
                      "reply '%s'", #expr, (c)->bin ? "binary" : "text",   \
                      orch_res_name(res_), orch_res_name(want),            \
                      (c)->last);                                          \
    } while (0)

/* orch_peek(o, idx, key, value) must be want (1 = has value, 0 = absent) */
#define EXPECT_PEEK(o, idx, key, value, want)                              \
    do {                                                                   \
        const char *v_ = (value);                                          \
        int p_ = orch_peek((o), (idx), (key), v_);                         \
        ck_assert_msg(p_ == (want), "listener %d key %s: peek %d, want %d " \
                      "(value %s)", (idx), (key), p_, (want),              \
                      v_ ? v_ : "-");                                      \
    } while (0)

/* an absolute expiry within 2 s of now + rel */
#define EXPECT_EXPIRY(got, rel)                                            \
    do {                                                                   \
        int64_t want_ = orch_unix_now() + (rel);                           \
        ck_assert_msg(llabs((long long)((got) - want_)) <= 2,             \
                      "expiry %lld, want about %lld (now + %d)",           \
                      (long long)(got), (long long)want_, (int)(rel));     \
    } while (0)

#endif
