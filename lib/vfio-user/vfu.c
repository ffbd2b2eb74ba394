/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsVfu: one libvfio-user context, its lock, and the loop that serves
 * its clients one after another.
 *
 * libvfio-user's callbacks receive only the context, so a process-wide
 * table maps contexts to their DmsVfu. Every vfu_* call runs under the
 * DmsVfu's recursive lock; the serve loop waits for the client without
 * it, so device threads reach libvfio-user between requests.
 */
#include "vfu-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static GMutex registry_lock;
static GHashTable *registry; /* vfu_ctx_t * -> DmsVfu * (no reference) */

DmsVfu *dms__vfu_lookup(vfu_ctx_t *ctx)
{
    DmsVfu *vfu = NULL;

    g_mutex_lock(&registry_lock);
    if (registry != NULL)
        vfu = g_hash_table_lookup(registry, ctx);
    g_mutex_unlock(&registry_lock);
    return vfu;
}

/*
 * The memory of a DmsVfu: held by its users together (one count, dropped
 * when the last dms_vfu_unref() has torn it down) and by each client DMA
 * region, which may outlive the teardown inside an access or a mapping.
 */
DmsVfu *dms__vfu_hold(DmsVfu *vfu)
{
    atomic_fetch_add_explicit(&vfu->refcount, 1, memory_order_relaxed);
    return vfu;
}

void dms__vfu_release(DmsVfu *vfu)
{
    if (atomic_fetch_sub_explicit(&vfu->refcount, 1, memory_order_acq_rel) !=
        1)
        return;
    /* Last one: no region and no user can reach it any more. */
    if (vfu->wake_fd >= 0)
        close(vfu->wake_fd);
    if (vfu->dmas != NULL)
        g_tree_destroy(vfu->dmas);
    g_free(vfu->sg);
    g_free(vfu->dirty_bitmap);
    g_rec_mutex_clear(&vfu->lock);
    g_free(vfu);
}

/*
 * The client is gone (a vfu_sgl_* call or vfu_run_ctx() said ENOTCONN):
 * libvfio-user has already removed its regions. Wake the serve loop,
 * which may be waiting on the closed connection. Under the lock.
 */
void dms__vfu_lost_client(DmsVfu *vfu)
{
    uint64_t one = 1;

    vfu->conn_fd = -1;
    if (atomic_exchange(&vfu->connected, false) && vfu->wake_fd >= 0) {
        ssize_t r = write(vfu->wake_fd, &one, sizeof(one));
        (void)r; /* a full counter already wakes the loop */
    }
}

int dms_vfu_attach(struct vfu_ctx *ctx, DmsRegion *container, DmsVfu **ret)
{
    DmsVfu *vfu;
    int listen_fd, flags, r;

    g_return_val_if_fail(ctx != NULL, -EINVAL);
    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;

    /*
     * A blocking context serves requests in vfu_run_ctx() until the client
     * goes: under the lock, that would stop every device thread's DMA.
     * libvfio-user makes the listening socket non-blocking exactly when
     * the context was created with LIBVFIO_USER_FLAG_ATTACH_NB.
     */
    listen_fd = vfu_get_poll_fd(ctx);
    flags = listen_fd >= 0 ? fcntl(listen_fd, F_GETFL) : -1;
    if (flags < 0 || !(flags & O_NONBLOCK))
        return -EINVAL;
    if (dms__vfu_lookup(ctx) != NULL)
        return -EINVAL;

    vfu = g_try_new0(DmsVfu, 1);
    if (vfu == NULL)
        return -ENOMEM;
    atomic_init(&vfu->users, 1);
    atomic_init(&vfu->negotiation_timeout_ms, DMS_VFU_NEGOTIATION_TIMEOUT_MS);
    atomic_init(&vfu->refcount, 1);
    vfu->ctx = ctx;
    vfu->conn_fd = -1;
    g_rec_mutex_init(&vfu->lock);
    vfu->sg = g_try_malloc0(dma_sg_size());
    vfu->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vfu->sg == NULL || vfu->wake_fd < 0) {
        r = vfu->wake_fd < 0 ? -errno : -ENOMEM;
        dms__vfu_release(vfu);
        return r;
    }

    if (container != NULL) {
        vfu->container = dms_region_ref(container);
    } else {
        r = dms_region_new_container("vfio-user client", DMS_SIZE_ALL,
                                     &vfu->container);
        if (r < 0) {
            dms__vfu_release(vfu);
            return r;
        }
    }
    r = dms_space_new(vfu->container, "vfio-user", &vfu->space);
    if (r < 0)
        goto fail;

    g_mutex_lock(&registry_lock);
    if (registry == NULL)
        registry = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_insert(registry, ctx, vfu);
    g_mutex_unlock(&registry_lock);

    r = dms__vfu_dma_setup(vfu);
    if (r < 0) {
        g_mutex_lock(&registry_lock);
        g_hash_table_remove(registry, ctx);
        g_mutex_unlock(&registry_lock);
        goto fail;
    }
    *ret = vfu;
    return 0;

fail:
    vfu->space = dms_space_unref(vfu->space);
    vfu->container = dms_region_unref(vfu->container);
    dms__vfu_release(vfu);
    return r;
}

DmsVfu *dms_vfu_ref(DmsVfu *vfu)
{
    if (vfu != NULL)
        atomic_fetch_add_explicit(&vfu->users, 1, memory_order_relaxed);
    return vfu;
}

/* The last user is gone: no thread is inside a call on @vfu. */
static void teardown(DmsVfu *vfu)
{
    g_rec_mutex_lock(&vfu->lock);
    vfu_destroy_ctx(vfu->ctx);
    /* Regions libvfio-user did not unregister on its way out. */
    dms__vfu_dma_remove_all(vfu);
    atomic_store(&vfu->connected, false);
    vfu->conn_fd = -1;
    g_rec_mutex_unlock(&vfu->lock);

    g_mutex_lock(&registry_lock);
    g_hash_table_remove(registry, vfu->ctx);
    if (g_hash_table_size(registry) == 0)
        g_clear_pointer(&registry, g_hash_table_destroy);
    g_mutex_unlock(&registry_lock);

    dms__vfu_dev_clear(vfu);
    vfu->space = dms_space_unref(vfu->space);
    vfu->container = dms_region_unref(vfu->container);
    dms__vfu_release(vfu);
}

DmsVfu *dms_vfu_unref(DmsVfu *vfu)
{
    if (vfu != NULL &&
        atomic_fetch_sub_explicit(&vfu->users, 1, memory_order_acq_rel) == 1)
        teardown(vfu);
    return NULL;
}

DmsSpace *dms_vfu_get_space(DmsVfu *vfu)
{
    g_return_val_if_fail(vfu != NULL, NULL);
    return vfu->space;
}

DmsRegion *dms_vfu_get_container(DmsVfu *vfu)
{
    g_return_val_if_fail(vfu != NULL, NULL);
    return vfu->container;
}

struct vfu_ctx *dms_vfu_get_ctx(DmsVfu *vfu)
{
    g_return_val_if_fail(vfu != NULL, NULL);
    return vfu->ctx;
}

void dms_vfu_lock(DmsVfu *vfu)
{
    g_return_if_fail(vfu != NULL);
    g_rec_mutex_lock(&vfu->lock);
}

void dms_vfu_unlock(DmsVfu *vfu)
{
    g_return_if_fail(vfu != NULL);
    g_rec_mutex_unlock(&vfu->lock);
}

bool dms_vfu_is_connected(DmsVfu *vfu)
{
    g_return_val_if_fail(vfu != NULL, false);
    return atomic_load(&vfu->connected);
}

bool dms_vfu_has_twin_socket(DmsVfu *vfu)
{
    g_return_val_if_fail(vfu != NULL, false);
    return atomic_load(&vfu->connected) && atomic_load(&vfu->twin_socket);
}

int dms_vfu_get_stats(DmsVfu *vfu, DmsVfuStats *stats)
{
    g_return_val_if_fail(vfu != NULL, -EINVAL);
    g_return_val_if_fail(stats != NULL, -EINVAL);
    stats->regions = atomic_load(&vfu->n_regions);
    stats->ram_regions = atomic_load(&vfu->n_ram_regions);
    stats->direct_regions = atomic_load(&vfu->n_direct_regions);
    stats->refused_regions = atomic_load(&vfu->n_refused);
    stats->messages = atomic_load(&vfu->n_messages);
    stats->lost_accesses = atomic_load(&vfu->n_lost);
    stats->clients = atomic_load(&vfu->n_clients);
    return 0;
}

/* The file descriptors open now, as a set. */
static GHashTable *open_fds(void)
{
    GHashTable *set = g_hash_table_new(g_direct_hash, g_direct_equal);
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;

    if (dir == NULL)
        return set;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);

        if (*end == '\0' && end != de->d_name && fd != dirfd(dir))
            g_hash_table_add(set, GINT_TO_POINTER(fd + 1));
    }
    closedir(dir);
    return set;
}

/*
 * The inodes of the unnamed, connected AF_UNIX stream sockets of the
 * system (/proc/net/unix: "Num RefCount Protocol Flags Type St Inode
 * [Path]"; type 1 is SOCK_STREAM, state 3 connected).
 */
static GHashTable *unnamed_stream_sockets(void)
{
    GHashTable *set =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    FILE *f = fopen("/proc/net/unix", "re");
    char line[512];

    if (f == NULL)
        return set;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned type, state;
        unsigned long inode;
        int end = 0;

        if (sscanf(line, "%*s %*s %*s %*s %x %x %lu%n", &type, &state, &inode,
                   &end) != 3)
            continue;
        while (line[end] == ' ')
            end++;
        if (type == 1 && state == 3 && (line[end] == '\n' || !line[end])) {
            gint64 *key = g_new(gint64, 1);

            *key = (gint64)inode;
            g_hash_table_add(set, key);
        }
    }
    fclose(f);
    return set;
}

/* The socket inode behind @fd, by its /proc link: no call on the fd. */
static bool socket_inode(int fd, gint64 *inode)
{
    char link[64], target[64];
    unsigned long ino;
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    if (sscanf(target, "socket:[%lu]", &ino) != 1)
        return false;
    *inode = (gint64)ino;
    return true;
}

/*
 * Did the negotiation that just ended make a twin socket? libvfio-user
 * makes one with socketpair() when the client offers twin sockets, sends
 * one end to the client and keeps the other: a new, unnamed, connected
 * stream socket (the connection itself is named after the listening
 * path). Only /proc is read: the descriptors of other threads are never
 * touched, not even with fstat().
 */
static bool made_twin_socket(GHashTable *before, GHashTable *after,
                             int conn_fd)
{
    GHashTable *unnamed = NULL;
    GHashTableIter it;
    gpointer key;
    bool twin = false;

    g_hash_table_iter_init(&it, after);
    while (!twin && g_hash_table_iter_next(&it, &key, NULL)) {
        int fd = GPOINTER_TO_INT(key) - 1;
        gint64 inode;

        if (fd == conn_fd || g_hash_table_contains(before, key) ||
            !socket_inode(fd, &inode))
            continue;
        if (unnamed == NULL)
            unnamed = unnamed_stream_sockets();
        twin = g_hash_table_contains(unnamed, &inode);
    }
    if (unnamed != NULL)
        g_hash_table_destroy(unnamed);
    return twin;
}

/*
 * The negotiation of one connection, watched: libvfio-user accepts the
 * connection and reads the client's VERSION with blocking calls on a
 * socket it opens itself, under the DmsVfu's lock. A client that connects
 * and sends nothing would hold that lock for ever, so a watchdog thread
 * shuts the new connection down when the deadline passes: libvfio-user's
 * read then ends, the negotiation fails and the lock is released.
 */
typedef struct Negotiation {
    GMutex lock;
    GCond cond;
    bool done;               /* vfu_attach_ctx() returned */
    bool expired;            /* the watchdog shut the connection down */
    gint64 deadline;         /* g_get_monotonic_time() microseconds */
    GHashTable *before;      /* descriptors open before vfu_attach_ctx() */
    struct sockaddr_un addr; /* the listening socket's address */
    socklen_t addr_len;
} Negotiation;

/*
 * Is @fd (our own duplicate) a connection accepted on the listening
 * socket at @n->addr? An accepted AF_UNIX socket carries the listener's
 * address; the listener itself is the one that accepts connections.
 */
static bool accepted_on(const Negotiation *n, int fd)
{
    struct sockaddr_un addr;
    socklen_t addr_len = sizeof(addr);
    int listening = 0;
    socklen_t opt_len = sizeof(listening);

    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) < 0 ||
        addr_len != n->addr_len || memcmp(&addr, &n->addr, addr_len) != 0)
        return false;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) ==
               0 &&
           !listening;
}

/*
 * Shuts down the connection libvfio-user is negotiating on: a socket
 * opened since the negotiation began, accepted on our listening socket.
 * The descriptor belongs to libvfio-user and may be closed (and its number
 * reused) at any moment, so the work is done on a duplicate, after
 * checking that the duplicate is the same socket (same inode) that was
 * found: shutdown() acts on the socket, not on a descriptor number.
 */
static void drop_negotiating_connection(Negotiation *n)
{
    GHashTable *now = open_fds();
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, now);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        int fd = GPOINTER_TO_INT(key) - 1, dup_fd;
        gint64 inode;
        struct stat st;

        if (g_hash_table_contains(n->before, key) || !socket_inode(fd, &inode))
            continue;
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dup_fd < 0)
            continue;
        if (fstat(dup_fd, &st) == 0 && (gint64)st.st_ino == inode &&
            accepted_on(n, dup_fd))
            shutdown(dup_fd, SHUT_RDWR);
        close(dup_fd);
    }
    g_hash_table_destroy(now);
}

static gpointer watchdog_main(gpointer data)
{
    Negotiation *n = data;

    g_mutex_lock(&n->lock);
    while (!n->done && !n->expired) {
        if (!g_cond_wait_until(&n->cond, &n->lock, n->deadline) && !n->done) {
            drop_negotiating_connection(n);
            n->expired = true;
        }
    }
    g_mutex_unlock(&n->lock);
    return NULL;
}

int dms_vfu_set_negotiation_timeout(DmsVfu *vfu, int timeout_ms)
{
    g_return_val_if_fail(vfu != NULL, -EINVAL);
    g_return_val_if_fail(timeout_ms > 0 || timeout_ms == -1, -EINVAL);
    atomic_store(&vfu->negotiation_timeout_ms, timeout_ms);
    return 0;
}

/*
 * vfu_attach_ctx() under the lock, within the negotiation deadline.
 * Returns 0, -ETIMEDOUT, -EAGAIN (no thread for the watchdog: the
 * connection stays queued) or the error of vfu_attach_ctx().
 */
static int attach_watched(DmsVfu *vfu, int listen_fd, GHashTable *before)
{
    int timeout_ms = atomic_load(&vfu->negotiation_timeout_ms);
    Negotiation n = {.before = before, .addr_len = sizeof(n.addr)};
    GThread *watchdog = NULL;
    int r, err;

    if (timeout_ms > 0 &&
        getsockname(listen_fd, (struct sockaddr *)&n.addr, &n.addr_len) == 0 &&
        n.addr.sun_family == AF_UNIX) {
        g_mutex_init(&n.lock);
        g_cond_init(&n.cond);
        n.deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
        watchdog =
            g_thread_try_new("dms-vfu-negotiation", watchdog_main, &n, NULL);
        if (watchdog == NULL) {
            g_cond_clear(&n.cond);
            g_mutex_clear(&n.lock);
            return -EAGAIN;
        }
    }
    r = vfu_attach_ctx(vfu->ctx);
    err = r < 0 ? errno : 0;
    if (watchdog != NULL) {
        g_mutex_lock(&n.lock);
        n.done = true;
        g_cond_signal(&n.cond);
        g_mutex_unlock(&n.lock);
        g_thread_join(watchdog);
        g_cond_clear(&n.cond);
        g_mutex_clear(&n.lock);
    }
    /*
     * A negotiation that ended just as the deadline passed is attached,
     * on a connection now shut down: dms_vfu_run() finds it gone.
     */
    if (r == 0)
        return 0;
    if (n.expired)
        return -ETIMEDOUT;
    return err == EAGAIN || err == EWOULDBLOCK ? -ETIMEDOUT
                                               : (err > 0 ? -err : -EIO);
}

int dms_vfu_accept(DmsVfu *vfu, int timeout_ms)
{
    struct pollfd pfd;
    GHashTable *before, *after;
    bool twin;
    int r;

    g_return_val_if_fail(vfu != NULL, -EINVAL);

    g_rec_mutex_lock(&vfu->lock);
    if (atomic_load(&vfu->connected)) {
        g_rec_mutex_unlock(&vfu->lock);
        return -EISCONN;
    }
    pfd.fd = vfu_get_poll_fd(vfu->ctx);
    g_rec_mutex_unlock(&vfu->lock);
    if (pfd.fd < 0)
        return -EBADF;

    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, timeout_ms);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -ETIMEDOUT;

    g_rec_mutex_lock(&vfu->lock);
    before = open_fds();
    r = attach_watched(vfu, pfd.fd, before);
    if (r < 0) {
        g_rec_mutex_unlock(&vfu->lock);
        g_hash_table_destroy(before);
        return r;
    }
    vfu->conn_fd = vfu_get_poll_fd(vfu->ctx);
    after = open_fds();
    twin = made_twin_socket(before, after, vfu->conn_fd);
    g_hash_table_destroy(before);
    g_hash_table_destroy(after);

    /* A stale wake-up of the previous client must not end a wait. */
    {
        uint64_t drain;
        ssize_t n = read(vfu->wake_fd, &drain, sizeof(drain));
        (void)n;
    }
    atomic_store(&vfu->twin_socket, twin);
    atomic_store(&vfu->connected, true);
    atomic_fetch_add(&vfu->n_clients, 1);
    g_rec_mutex_unlock(&vfu->lock);
    return 0;
}

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64_at(const uint8_t *p)
{
    return (uint64_t)le32_at(p) | (uint64_t)le32_at(p + 4) << 32;
}

/*
 * Does the next request read dirty pages, and of which IOVAs? The DMA
 * logging report (DEVICE_FEATURE, GET of feature 8), DMA_UNMAP with its
 * dirty bitmap flag, and the start of logging (SET of feature 6). The request
 * is peeked, not read: libvfio-user reads it next. Only the regions it names
 * are flushed, so a client with 10,000 regions does not make every request
 * cost 10,000 steps.
 */
static bool next_request_reads_dirty(int fd, uint64_t *iova, uint64_t *len)
{
    /* header (16), then argsz, flags and the first two u64 fields */
    uint8_t b[16 + 8 + 16];
    ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    unsigned cmd;
    uint32_t flags;

    if (n < 4)
        return false;
    cmd = (unsigned)b[2] | (unsigned)b[3] << 8;
    if (n != (ssize_t)sizeof(b)) {
        /* Not all of it here yet: if it may read the log, flush all. */
        *iova = 0;
        *len = UINT64_MAX;
        return cmd == VFIO_USER_DEVICE_FEATURE || cmd == VFIO_USER_DMA_UNMAP;
    }
    flags = le32_at(b + 20);
    if (cmd == VFIO_USER_DEVICE_FEATURE &&
        (flags & VFIO_DEVICE_FEATURE_MASK) ==
            VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT &&
        (flags & VFIO_DEVICE_FEATURE_GET)) {
        *iova = le64_at(b + 24);
        *len = le64_at(b + 32);
        return true;
    }
    if (cmd == VFIO_USER_DEVICE_FEATURE &&
        (flags & VFIO_DEVICE_FEATURE_MASK) ==
            VFIO_DEVICE_FEATURE_DMA_LOGGING_START &&
        (flags & VFIO_DEVICE_FEATURE_SET)) {
        /*
         * Logging starts: what was written before is handed over now,
         * while libvfio-user still drops it, so that the first report
         * has only what was written since.
         */
        *iova = 0;
        *len = UINT64_MAX;
        return true;
    }
    if (cmd == VFIO_USER_DMA_UNMAP &&
        (flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)) {
        *iova = le64_at(b + 24);
        *len = le64_at(b + 32);
        return true;
    }
    return false;
}

int dms_vfu_run(DmsVfu *vfu, int timeout_ms)
{
    struct pollfd pfd[2];
    uint64_t dirty_iova, dirty_len;
    int r, err;

    g_return_val_if_fail(vfu != NULL, -EINVAL);

    g_rec_mutex_lock(&vfu->lock);
    if (!atomic_load(&vfu->connected)) {
        g_rec_mutex_unlock(&vfu->lock);
        return -ENOTCONN;
    }
    pfd[0].fd = vfu->conn_fd;
    g_rec_mutex_unlock(&vfu->lock);
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    pfd[1].fd = vfu->wake_fd;
    pfd[1].events = POLLIN;
    pfd[1].revents = 0;

    r = poll(pfd, 2, timeout_ms);
    if (r < 0)
        return -errno;

    g_rec_mutex_lock(&vfu->lock);
    if (!atomic_load(&vfu->connected)) {
        g_rec_mutex_unlock(&vfu->lock);
        return -ENOTCONN;
    }
    if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        g_rec_mutex_unlock(&vfu->lock);
        return 0;
    }
    /*
     * Only writable shared memory has pages of ours to hand over: without
     * it, the peek (a system call per request) is skipped.
     */
    if (atomic_load(&vfu->n_ram_regions) > 0 &&
        next_request_reads_dirty(vfu->conn_fd, &dirty_iova, &dirty_len))
        dms__vfu_dma_flush_dirty(vfu, dirty_iova, dirty_len);
    r = vfu_run_ctx(vfu->ctx);
    err = errno;
    if (r < 0 && (err == ENOTCONN || !atomic_load(&vfu->connected))) {
        /*
         * Gone: either vfu_run_ctx() found it (and reset the context), or
         * a DMA of a device callback did, and vfu_run_ctx() then failed to
         * reply on the closed connection (EBADF).
         */
        dms__vfu_lost_client(vfu);
        vfu->conn_fd = -1;
        g_rec_mutex_unlock(&vfu->lock);
        return -ENOTCONN;
    }
    g_rec_mutex_unlock(&vfu->lock);
    return r < 0 ? -err : r;
}
