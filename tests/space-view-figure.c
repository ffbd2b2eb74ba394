/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Builds a region tree from a description and prints the flattened view of
 * a space over its root, as the public API shows it: for each run of
 * addresses, the leaf region that answers and the offset in it.
 * tests/test-space-view-figure.py feeds it the tree drawn in
 * doc/space-view.svg and compares its output with the view drawn there.
 *
 * Input, one region per line, parents and alias targets first:
 *   KIND NAME PARENT OFFSET SIZE PRIORITY [TARGET TARGET_OFFSET]
 * KIND is ram, message, container or alias; PARENT is "-" for the root
 * (the first line); OFFSET, SIZE and TARGET_OFFSET are hexadecimal (0x
 * optional), PRIORITY decimal. Output, one line per
 * run: FIRST LAST NAME OFFSET, or FIRST LAST - - where nothing answers.
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
        r = dms_region_new_ram(node->name, node->ram, size, 0, free, node->ram,
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

static void print_run(uint64_t first, uint64_t last, const Node *leaf,
                      uint64_t offset)
{
    if (leaf == NULL) {
        printf("0x%04" PRIX64 " 0x%04" PRIX64 " - -\n", first, last);
    } else {
        printf("0x%04" PRIX64 " 0x%04" PRIX64 " %s 0x%04" PRIX64 "\n", first,
               last, leaf->name, offset);
    }
}

int main(void)
{
    char line[256];
    DmsSpace *space = NULL;
    const Node *run_leaf = NULL;
    uint64_t run_first = 0, run_offset = 0, root_size;
    int r, status = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (line[0] == '\n' || line[0] == '#') {
            continue;
        }
        if (add_node(line) != 0) {
            status = 1;
            goto out;
        }
    }
    if (figure.count == 0) {
        fprintf(stderr, "space-view-figure: no region given\n");
        return 1;
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
            print_run(run_first, addr - 1, run_leaf, run_offset);
        }
        if (breaks) {
            run_first = addr;
            run_leaf = leaf;
            run_offset = offset;
        }
    }
    print_run(run_first, root_size - 1, run_leaf, run_offset);

out:
    space = dms_space_unref(space);
    for (size_t i = 0; i < figure.count; i++) {
        figure.nodes[i].region = dms_region_unref(figure.nodes[i].region);
    }
    return status;
}
