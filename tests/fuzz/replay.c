/*
 * replay.c - run a fuzz target's LLVMFuzzerTestOneInput over files, with
 * no libFuzzer: the corpus replay of `make check` (every build, gcc or
 * clang).  Arguments are files or directories (every regular file in a
 * directory, in name order); with none, the target's corpus
 * $REND_SRCDIR/tests/fuzz/corpus/FUZZ_NAME.  Exit 0 when every input ran
 * (a crash is the sanitizer's report), 1 when nothing could be read.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned nrun;

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            uint8_t *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    nrun++;
    return 0;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_path(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return run_file(path);
    }
    d = opendir(path);
    if (d == NULL) {
        perror(path);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            char **nn;
            cap = cap ? cap * 2 : 64;
            nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL) {
                break;
            }
            names = nn;
        }
        names[n] = malloc(strlen(path) + strlen(e->d_name) + 2);
        if (names[n] == NULL) {
            break;
        }
        sprintf(names[n], "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) {
        qsort(names, n, sizeof(*names), by_name);
    }
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)
            && run_file(names[i]) != 0) {
            rc = -1;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    int rc = 0;

    if (argc < 2) {
        const char *src = getenv("REND_SRCDIR");
        char path[4096];
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s",
                 src != NULL ? src : "..", FUZZ_NAME);
        rc = run_path(path);
    }
    for (int i = 1; i < argc; i++) {
        if (run_path(argv[i]) != 0) {
            rc = -1;
        }
    }
    printf("%s: %u inputs replayed\n", FUZZ_NAME, nrun);
    return rc != 0 || nrun == 0;
}
