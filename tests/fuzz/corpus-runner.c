/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs a fuzz target over files, without libFuzzer: every build, with any
 * compiler, replays the committed seed corpus (and any crash input someone
 * saved there) as an ordinary test.
 *
 *   fuzz-space-corpus DIR-OR-FILE...
 *
 * Prints TAP, one line per input. An input that makes the target abort
 * ends the run with the target's message on stderr; a missing corpus is a
 * failure too, so a broken path cannot turn the test into a no-op.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

typedef struct Inputs {
    char **paths;
    size_t n, cap;
} Inputs;

static void add_path(Inputs *in, const char *path)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 64;
        in->paths = realloc(in->paths, in->cap * sizeof(*in->paths));
        if (!in->paths) {
            perror("realloc");
            exit(2);
        }
    }
    in->paths[in->n] = strdup(path);
    if (!in->paths[in->n]) {
        perror("strdup");
        exit(2);
    }
    in->n++;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of @dir in name order, so runs are reproducible. */
static void add_dir(Inputs *in, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t first = in->n;

    if (!d) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        exit(2);
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        add_path(in, path);
    }
    closedir(d);
    qsort(in->paths + first, in->n - first, sizeof(*in->paths), compare_paths);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    for (;;) {
        size_t got;

        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            if (!buf) {
                perror("realloc");
                exit(2);
            }
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error\n", path);
        exit(2);
    }
    fclose(f);
    /*
     * An exactly sized copy, like libFuzzer's, so that a target reading
     * past its input trips the sanitizers here too.
     */
    {
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) {
            perror("malloc");
            exit(2);
        }
        memcpy(exact, buf, n);
        free(buf);
        *len = n;
        return exact;
    }
}

int main(int argc, char **argv)
{
    Inputs in = {0};

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR-OR-FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        if (S_ISDIR(st.st_mode))
            add_dir(&in, argv[i]);
        else
            add_path(&in, argv[i]);
    }
    if (in.n == 0) {
        fprintf(stderr, "no inputs: an empty corpus tests nothing\n");
        return 2;
    }

    printf("1..%zu\n", in.n);
    fflush(stdout);
    for (size_t i = 0; i < in.n; i++) {
        size_t len;
        uint8_t *data = read_file(in.paths[i], &len);

        LLVMFuzzerTestOneInput(data, len);
        free(data);
        printf("ok %zu - %s\n", i + 1, in.paths[i]);
        fflush(stdout);
        free(in.paths[i]);
    }
    free(in.paths);
    return 0;
}
