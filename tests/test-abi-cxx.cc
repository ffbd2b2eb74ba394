/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A C++ caller links against the C symbols of the shared library: a missing
 * extern "C" in a header would leave these calls unresolved at link time.
 */
#include <cerrno>
#include <cstdio>

#include <dmaspace/dmaspace.h>

int main()
{
    DmsRegion *root = nullptr;
    DmsSpace *space = nullptr;
    unsigned char byte = 0;
    size_t done = 1;

    if (dms_region_new_container("root", DMS_SIZE_ALL, &root) != 0 ||
        dms_space_new(root, "cxx", &space) != 0) {
        std::fprintf(stderr, "cannot create the container and space\n");
        return 1;
    }
    /* Nothing is mapped in an empty container: a decode error. */
    int r = dms_space_read(space, 0x1000, &byte, 1, nullptr, &done);
    if (r != -EFAULT || done != 0) {
        std::fprintf(stderr, "read of nothing returned %d, done %zu\n", r,
                     done);
        return 1;
    }
    space = dms_space_unref(space);
    root = dms_region_unref(root);
    dms_map_client_unref(nullptr);
    dms_sglist_unref(nullptr);
    return space == nullptr && root == nullptr ? 0 : 1;
}
