/*
 * rend_check.h - the one way a Check test program of rend ends: run the
 * suite, report, exit.  Header-only (every test program already links
 * Check; the test library itself does not).
 */
#ifndef REND_CHECK_H
#define REND_CHECK_H

#include <check.h>
#include <stdlib.h>

/* Run suite s (CK_NORMAL, or CK_VERBOSITY from the environment), free it,
 * and return main()'s status: EXIT_SUCCESS when no test failed. */
static inline int
rend_check_main(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
