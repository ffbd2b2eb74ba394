/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * doc/space-view.svg tells the truth: builds the region tree the picture
 * draws with the public API and checks that a space over its root shows
 * exactly the flattened view the picture draws beside it.
 *
 * usage: space-view-figure FIGURE
 *
 * FIGURE is what tests/test-space-view-figure.py extracts from the SVG's
 * data-* attributes at build time, one item a line:
 *   region KIND NAME PARENT OFFSET SIZE PRIORITY [TARGET TARGET_OFFSET]
 *   view FIRST LAST NAME OFFSET        (NAME and OFFSET "-" for nothing)
 * KIND is ram, message, container or alias; PARENT is "-" for the root
 * (the first region); parents and alias targets come first; numbers are
 * hexadecimal, PRIORITY decimal.
 *
 * Every address of the root is probed, so the root must be small (the
 * figure's is 64 KiB). RAM is told apart by its host pointer from
 * dms_space_map(), message regions by the offset their backend is asked
 * for; nothing else of the library is looked at.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaspace/dmaspace.h>

#define MAX_NODES 64
#define MAX_PROBE_SIZE (UINT64_C(1) << 20)

typedef struct Node {
    char kind[16];
    char name[64];
    DmsRegion *region;
    uint8_t *ram; /* RAM: its memory */
    uint64_t size;
} Node;

typedef struct Figure {
    Node nodes[MAX_NODES];
    size_t count;
    /* The last message access: which node, at which offset. */
    const Node *accessed;
    uint64_t accessed_offset;
} Figure;

static Figure figure;

static int64_t message_read(void *opaque, uint64_t offset, void *buf,
                            size_t len, const DmsAttrs *attrs)
{
    figure.accessed = opaque;
    figure.accessed_offset = offset;
    memset(buf, 0, len);
    return (int64_t)len;
}

static int64_t message_write(void *opaque, uint64_t offset, const void *buf,
                             size_t len, const DmsAttrs *attrs)
{
    figure.accessed = opaque;
    figure.accessed_offset = offset;
    return (int64_t)len;
}

static const DmsMessageOps message_ops = {
    .size = sizeof(DmsMessageOps),
    .read = message_read,
    .write = message_write,
};

static Node *find(const char *name)
{
    for (size_t i = 0; i < figure.count; i++) {
        if (strcmp(figure.nodes[i].name, name) == 0) {
            return &figure.nodes[i];
        }
    }
    return NULL;
}

static int fail(const char *what, const char *name, int r)
{
    fprintf(stderr, "space-view-figure: %s %s: %s\n", what, name,
            r < 0 ? strerror(-r) : "bad input");
    return 1;
}

/* Parses and creates one region; places it into its parent. */
static int add_node(const char *line)
{
    char parent[64], target[64] = "";
    unsigned long long offset, size, target_offset = 0;
    int priority, fields, r;
    Node *node, *up = NULL;

    if (figure.count == MAX_NODES) {
        return fail("too many regions at", line, 0);
    }
    node = &figure.nodes[figure.count];
    fields = sscanf(line, "%15s %63s %63s %llx %llx %d %63s %llx", node->kind,
                    node->name, parent, &offset, &size, &priority, target,
                    &target_offset);
    if (fields != 6 && fields != 8) {
        return fail("cannot parse", line, 0);
    }
    if (find(node->name) != NULL) {
        return fail("region named twice:", node->name, 0);
    }
    if (strcmp(parent, "-") != 0) {
        up = find(parent);
        if (up == NULL || strcmp(up->kind, "container") != 0) {
            return fail("no container", parent, 0);
        }
    } else if (figure.count != 0) {
        return fail("second root", node->name, 0);
    }
    node->size = size;

    if (strcmp(node->kind, "ram") == 0) {
        node->ram = calloc(1, size ? size : 1);
        if (node->ram == NULL) {
            return fail("out of memory for", node->name, -ENOMEM);
        }
        r = dms_region_new_ram(node->name, node->ram, size, 0, node->ram, free,
                               &node->region);
        if (r < 0) {
            free(node->ram);
        }
    } else if (strcmp(node->kind, "message") == 0) {
        r = dms_region_new_message(node->name, size, &message_ops, node, NULL,
                                   &node->region);
    } else if (strcmp(node->kind, "container") == 0) {
        r = dms_region_new_container(node->name, size, &node->region);
    } else if (strcmp(node->kind, "alias") == 0) {
        Node *to = find(target);

        if (to == NULL) {
            return fail("no alias target", target, 0);
        }
        r = dms_region_new_alias(node->name, to->region, target_offset, size,
                                 &node->region);
    } else {
        return fail("unknown kind", node->kind, 0);
    }
    if (r < 0) {
        return fail("cannot create", node->name, r);
    }
    figure.count++;
    if (up != NULL) {
        r = dms_region_add_subregion(up->region, offset, node->region,
                                     priority, 0);
        if (r < 0) {
            return fail("cannot place", node->name, r);
        }
    }
    return 0;
}

/*
 * Which leaf answers @addr: *leaf is NULL where nothing does. Returns 0 or
 * the unexpected error.
 */
static int probe(DmsSpace *space, uint64_t addr, const Node **leaf,
                 uint64_t *offset)
{
    size_t len = 1;
    void *ptr;
    int r;

    *leaf = NULL;
    *offset = 0;
    figure.accessed = NULL;
    r = dms_space_map(space, addr, &len, DMS_DIR_TO_DEVICE, NULL, &ptr);
    if (r == -EFAULT) {
        return 0;
    }
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < figure.count; i++) {
        const Node *n = &figure.nodes[i];

        if (n->ram != NULL && (uint8_t *)ptr >= n->ram &&
            (uint8_t *)ptr < n->ram + n->size) {
            *leaf = n;
            *offset = (uint64_t)((uint8_t *)ptr - n->ram);
        }
    }
    if (*leaf == NULL) {
        *leaf = figure.accessed;
        *offset = figure.accessed_offset;
    }
    r = dms_space_unmap(space, ptr, len, DMS_DIR_TO_DEVICE, 0);
    if (r == 0 && *leaf == NULL) {
        r = -EIO; /* mapped, but by neither RAM nor a backend */
    }
    return r;
}

/* Text of the view, one run a line, as drawn or as rendered. */
typedef struct ViewText {
    char text[8192];
    size_t len;
} ViewText;

static void add_run(ViewText *view, uint64_t first, uint64_t last,
                    const char *name, const uint64_t *offset)
{
    int n;

    if (offset == NULL) {
        n = snprintf(view->text + view->len, sizeof(view->text) - view->len,
                     "  0x%04" PRIX64 "-0x%04" PRIX64 " nothing\n", first,
                     last);
    } else {
        n = snprintf(view->text + view->len, sizeof(view->text) - view->len,
                     "  0x%04" PRIX64 "-0x%04" PRIX64 " %s +0x%04" PRIX64 "\n",
                     first, last, name, *offset);
    }
    if (n > 0 && (size_t)n < sizeof(view->text) - view->len) {
        view->len += (size_t)n;
    }
}

static int add_drawn_run(ViewText *drawn, const char *line)
{
    unsigned long long first, last, offset;
    char name[64], offset_text[32];

    if (sscanf(line, "%llx %llx %63s %31s", &first, &last, name,
               offset_text) != 4) {
        return fail("cannot parse view", line, 0);
    }
    if (strcmp(name, "-") == 0) {
        add_run(drawn, first, last, NULL, NULL);
    } else {
        uint64_t off;

        if (sscanf(offset_text, "%llx", &offset) != 1) {
            return fail("cannot parse view", line, 0);
        }
        off = offset;
        add_run(drawn, first, last, name, &off);
    }
    return 0;
}

static void add_rendered_run(ViewText *rendered, uint64_t first, uint64_t last,
                             const Node *leaf, uint64_t offset)
{
    add_run(rendered, first, last, leaf ? leaf->name : NULL,
            leaf ? &offset : NULL);
}

int main(int argc, char **argv)
{
    static ViewText drawn, rendered;
    char line[256];
    FILE *in;
    DmsSpace *space = NULL;
    const Node *run_leaf = NULL;
    uint64_t run_first = 0, run_offset = 0, root_size;
    int r, status = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: space-view-figure FIGURE\n");
        return 2;
    }
    in = fopen(argv[1], "r");
    if (in == NULL) {
        return fail("cannot open", argv[1], -errno);
    }
    while (fgets(line, sizeof(line), in) != NULL) {
        if (strncmp(line, "region ", 7) == 0) {
            status = add_node(line + 7);
        } else if (strncmp(line, "view ", 5) == 0) {
            status = add_drawn_run(&drawn, line + 5);
        } else if (line[0] != '\n' && line[0] != '#') {
            status = fail("cannot parse", line, 0);
        }
        if (status != 0) {
            break;
        }
    }
    fclose(in);
    if (status != 0) {
        goto out;
    }
    if (figure.count == 0 || drawn.len == 0) {
        status = fail("no tree or no view in", argv[1], 0);
        goto out;
    }
    root_size = figure.nodes[0].size;
    if (root_size == 0 || root_size > MAX_PROBE_SIZE) {
        status = fail("root too large to probe:", figure.nodes[0].name, 0);
        goto out;
    }
    r = dms_space_new(figure.nodes[0].region, "figure", &space);
    if (r < 0) {
        status = fail("cannot create the space over", figure.nodes[0].name, r);
        goto out;
    }

    for (uint64_t addr = 0; addr < root_size; addr++) {
        const Node *leaf;
        uint64_t offset;

        r = probe(space, addr, &leaf, &offset);
        if (r < 0) {
            status = fail("cannot probe", "the space", r);
            goto out;
        }
        /* A run goes on while the same leaf answers at the next offset. */
        bool breaks =
            addr == 0 || leaf != run_leaf ||
            (leaf != NULL && offset != run_offset + (addr - run_first));

        if (breaks && addr != 0) {
            add_rendered_run(&rendered, run_first, addr - 1, run_leaf,
                             run_offset);
        }
        if (breaks) {
            run_first = addr;
            run_leaf = leaf;
            run_offset = offset;
        }
    }
    add_rendered_run(&rendered, run_first, root_size - 1, run_leaf,
                     run_offset);

    if (strcmp(drawn.text, rendered.text) != 0) {
        printf("the view drawn:\n%sis not the view the library renders:\n%s",
               drawn.text, rendered.text);
        status = 1;
    } else {
        printf("the library renders the view drawn:\n%s", rendered.text);
    }

out:
    space = dms_space_unref(space);
    for (size_t i = 0; i < figure.count; i++) {
        figure.nodes[i].region = dms_region_unref(figure.nodes[i].region);
    }
    return status;
}
