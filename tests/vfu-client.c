/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tests' vfio-user client; see vfu-client.h. Messages are a 16-byte
 * header (msg id u16, command u16, size u32 including the header, flags
 * u32, error u32), then the payload; every field little-endian. File
 * descriptors travel as SCM_RIGHTS with the header.
 */
#include "vfu-client.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HDR_SIZE 16
#define F_TYPE_MASK 0xfu
#define F_REPLY 0x1u
#define F_ERROR 0x20u

/* Largest message the client accepts: 1 MiB of data plus headers. */
#define MAX_MESSAGE ((size_t)(1u << 20) + 4096)

typedef struct Memory {
    uint64_t iova;
    uint64_t size;
    uint8_t *host;
    bool writable;
} Memory;

struct VfuClient {
    int fd; /* the connection: our commands, and the server's without twin */
    int cmd_fd; /* twin socket: the server's commands; -1 without */
    uint64_t max_transfer;

    GMutex lock; /* everything below */
    GCond cond;
    GThread *reader;
    bool dead;
    uint16_t next_id;
    /* the one command in flight */
    bool waiting;
    uint16_t wait_id;
    bool have_reply;
    uint32_t reply_error;
    uint8_t *reply;
    size_t reply_len;

    GArray *memory; /* of Memory */
    VfcDmaHook hook;
    void *hook_data;
    VfcStats stats;

    GMutex send_lock; /* whole messages on the sockets */
    int wake[2];      /* pipe: stop the reader */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

int vfc_memfd(uint64_t size, void **host)
{
    int fd = memfd_create("vfc", MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) < 0) {
        close(fd);
        return -1;
    }
    *host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (*host == MAP_FAILED) {
        close(fd);
        return -1;
    }
    return fd;
}

void vfc_memfd_free(int fd, void *host, uint64_t size)
{
    munmap(host, size);
    close(fd);
}

/* Sends one message (header + payload) with an optional fd. */
static int send_message(VfuClient *c, int sock, uint16_t id, uint16_t cmd,
                        uint32_t flags, uint32_t error, const void *payload,
                        size_t len, int fd)
{
    uint8_t hdr[HDR_SIZE];
    struct iovec iov[2];
    struct msghdr msg = {0};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    size_t total = HDR_SIZE + len, sent = 0;
    int r = 0;

    put16(hdr, id);
    put16(hdr + 2, cmd);
    put32(hdr + 4, (uint32_t)total);
    put32(hdr + 8, flags);
    put32(hdr + 12, error);
    iov[0].iov_base = hdr;
    iov[0].iov_len = HDR_SIZE;
    iov[1].iov_base = (void *)(uintptr_t)payload;
    iov[1].iov_len = len;
    msg.msg_iov = iov;
    msg.msg_iovlen = len ? 2 : 1;
    if (fd >= 0) {
        struct cmsghdr *cm;

        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }

    g_mutex_lock(&c->send_lock);
    while (sent < total) {
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        sent += (size_t)n;
        /* The rest goes without the fd. */
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
        while (n > 0 && msg.msg_iovlen > 0) {
            size_t take = MIN((size_t)n, msg.msg_iov->iov_len);

            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + take;
            msg.msg_iov->iov_len -= take;
            n -= (ssize_t)take;
            if (msg.msg_iov->iov_len == 0) {
                msg.msg_iov++;
                msg.msg_iovlen--;
            }
        }
    }
    g_mutex_unlock(&c->send_lock);
    return r;
}

/* Reads exactly @len bytes; collects one passed fd into *@fd if asked. */
static int read_full(int sock, void *buf, size_t len, int *fd)
{
    size_t got = 0;

    while (got < len) {
        struct iovec iov = {(char *)buf + got, len - got};
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * 4)];
        } ctl;
        struct msghdr msg = {0};
        ssize_t n;

        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -ECONNRESET : -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL;
             cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfds; i++) {
                int got_fd;

                memcpy(&got_fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (fd != NULL && *fd < 0)
                    *fd = got_fd;
                else
                    close(got_fd);
            }
        }
        got += (size_t)n;
    }
    return 0;
}

/* One whole message: header fields and a g_malloc'd payload. */
typedef struct Message {
    uint16_t id, cmd;
    uint32_t flags, error;
    uint8_t *payload;
    size_t len;
    int fd;
} Message;

static int read_message(int sock, Message *m)
{
    uint8_t hdr[HDR_SIZE];
    uint32_t size;
    int r;

    m->fd = -1;
    m->payload = NULL;
    r = read_full(sock, hdr, HDR_SIZE, &m->fd);
    if (r < 0)
        return r;
    m->id = get16(hdr);
    m->cmd = get16(hdr + 2);
    size = get32(hdr + 4);
    m->flags = get32(hdr + 8);
    m->error = get32(hdr + 12);
    if (size < HDR_SIZE || size - HDR_SIZE > MAX_MESSAGE)
        return -EPROTO;
    m->len = size - HDR_SIZE;
    m->payload = g_malloc(m->len ? m->len : 1);
    return read_full(sock, m->payload, m->len, NULL);
}

static Memory *find_memory(VfuClient *c, uint64_t addr, uint64_t count)
{
    for (guint i = 0; i < c->memory->len; i++) {
        Memory *m = &g_array_index(c->memory, Memory, i);

        if (addr >= m->iova && addr - m->iova <= m->size &&
            count <= m->size - (addr - m->iova))
            return m;
    }
    return NULL;
}

/* Serves the server's DMA_READ / DMA_WRITE. false: kill the connection. */
static bool serve(VfuClient *c, int sock, Message *m)
{
    uint64_t addr, count;
    uint8_t *reply = NULL;
    size_t reply_len = 16;
    uint32_t error = 0;
    Memory *mem;

    if ((m->cmd != VFC_DMA_READ && m->cmd != VFC_DMA_WRITE) || m->len < 16) {
        send_message(c, sock, m->id, m->cmd, F_REPLY | F_ERROR, EINVAL, NULL,
                     0, -1);
        return true;
    }
    addr = get64(m->payload);
    count = get64(m->payload + 8);
    if (c->hook != NULL && !c->hook(c, m->cmd, addr, count, c->hook_data))
        return false;

    g_mutex_lock(&c->lock);
    c->stats.largest = MAX(c->stats.largest, count);
    if (count > c->max_transfer) {
        error = E2BIG; /* as QEMU's client answers */
    } else if (m->cmd == VFC_DMA_WRITE && m->len - 16 != count) {
        error = EINVAL;
    } else {
        mem = find_memory(c, addr, count);
        if (mem == NULL || (m->cmd == VFC_DMA_WRITE && !mem->writable)) {
            c->stats.stray++;
            error = EFAULT;
        } else if (m->cmd == VFC_DMA_READ) {
            c->stats.dma_reads++;
            reply_len = 16 + count;
            reply = g_malloc(reply_len);
            memcpy(reply + 16, mem->host + (addr - mem->iova), count);
        } else {
            c->stats.dma_writes++;
            memcpy(mem->host + (addr - mem->iova), m->payload + 16, count);
        }
    }
    g_mutex_unlock(&c->lock);

    if (error != 0) {
        send_message(c, sock, m->id, m->cmd, F_REPLY | F_ERROR, error, NULL, 0,
                     -1);
    } else {
        if (reply == NULL)
            reply = g_malloc(reply_len);
        put64(reply, addr);
        put64(reply + 8, count);
        send_message(c, sock, m->id, m->cmd, F_REPLY, 0, reply, reply_len, -1);
    }
    g_free(reply);
    return true;
}

static void mark_dead(VfuClient *c)
{
    g_mutex_lock(&c->lock);
    c->dead = true;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

/*
 * Reads one message from @sock and closes any file descriptor it carries
 * (the server's commands and replies to ours need none). A failed read
 * leaves the client dead: false.
 */
static bool receive(VfuClient *c, int sock, Message *m)
{
    int r = read_message(sock, m);

    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    if (r < 0) {
        g_free(m->payload);
        mark_dead(c);
        return false;
    }
    return true;
}

/* Files @m as the awaited reply (c->lock held); the reply takes its payload.
 */
static void file_reply(VfuClient *c, Message *m)
{
    c->have_reply = true;
    c->reply_error = m->flags & F_ERROR ? m->error : 0;
    c->reply = m->payload;
    c->reply_len = m->len;
    m->payload = NULL;
}

/* Serves the server's command @m and frees it; a failure kills the client. */
static bool serve_command(VfuClient *c, int sock, Message *m)
{
    bool ok = serve(c, sock, m);

    g_free(m->payload);
    if (!ok) {
        vfc_kill(c);
        mark_dead(c);
    }
    return ok;
}

static gpointer reader_main(gpointer data)
{
    VfuClient *c = data;

    for (;;) {
        /*
         * With twin sockets the command socket carries only replies to
         * our own commands, which their caller reads itself (one thread
         * hand-off less per round trip): the reader leaves it alone.
         */
        struct pollfd pfd[3] = {
            {c->cmd_fd >= 0 ? -1 : c->fd, POLLIN, 0},
            {c->wake[0], POLLIN, 0},
            {c->cmd_fd, POLLIN, 0},
        };
        int nfds = c->cmd_fd >= 0 ? 3 : 2;

        if (poll(pfd, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents)
            break;
        for (int i = 0; i < nfds; i++) {
            Message m;
            int sock = pfd[i].fd;

            if (i == 1 || pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            if (!receive(c, sock, &m))
                return NULL;
            if ((m.flags & F_TYPE_MASK) != F_REPLY) {
                if (!serve_command(c, sock, &m))
                    return NULL;
                continue;
            }
            g_mutex_lock(&c->lock);
            if (c->waiting && m.id == c->wait_id && !c->have_reply) {
                file_reply(c, &m);
                g_cond_broadcast(&c->cond);
            }
            g_mutex_unlock(&c->lock);
            g_free(m.payload);
        }
    }
    mark_dead(c);
    return NULL;
}

/*
 * With twin sockets: reads the reply to @id from the command socket on
 * the caller's thread and files it as the reader thread would. A server
 * command there (the server should send them on the twin) is served.
 */
static int read_own_reply(VfuClient *c, uint16_t id)
{
    for (;;) {
        Message m;
        bool mine;

        if (!receive(c, c->fd, &m))
            return 0; /* the wait below sees the death */
        if ((m.flags & F_TYPE_MASK) != F_REPLY) {
            if (!serve_command(c, c->fd, &m))
                return 0;
            continue;
        }
        g_mutex_lock(&c->lock);
        mine = m.id == id && !c->have_reply;
        if (mine)
            file_reply(c, &m);
        g_mutex_unlock(&c->lock);
        g_free(m.payload);
        if (mine)
            return 0;
    }
}

int vfc_request(VfuClient *c, unsigned cmd, const void *payload, size_t len,
                int fd, void *reply, size_t reply_cap, size_t *reply_len)
{
    uint16_t id;
    int r;

    g_mutex_lock(&c->lock);
    if (c->dead) {
        g_mutex_unlock(&c->lock);
        return -ECONNRESET;
    }
    id = c->next_id++;
    c->waiting = true;
    c->wait_id = id;
    c->have_reply = false;
    g_mutex_unlock(&c->lock);

    r = send_message(c, c->fd, id, (uint16_t)cmd, 0, 0, payload, len, fd);
    if (r == 0 && c->cmd_fd >= 0)
        r = read_own_reply(c, id);

    g_mutex_lock(&c->lock);
    while (r == 0 && !c->have_reply && !c->dead)
        g_cond_wait(&c->cond, &c->lock);
    if (r == 0 && !c->have_reply)
        r = -ECONNRESET;
    if (r == 0) {
        r = -(int)c->reply_error;
        if (reply != NULL)
            memcpy(reply, c->reply, MIN(reply_cap, c->reply_len));
        if (reply_len != NULL)
            *reply_len = c->reply_len;
    }
    g_free(c->reply);
    c->reply = NULL;
    c->waiting = false;
    c->have_reply = false;
    g_mutex_unlock(&c->lock);
    return r;
}

int vfc_connect_silent(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd, r;

    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

int vfc_connect(const char *path, const VfcOptions *opts, VfuClient **ret)
{
    VfuClient *c;
    GString *json;
    Message m;
    int r;

    *ret = NULL;
    c = g_new0(VfuClient, 1);
    c->cmd_fd = -1;
    c->max_transfer =
        opts && opts->max_transfer ? opts->max_transfer : (uint64_t)1 << 20;
    c->next_id = 1;
    c->memory = g_array_new(FALSE, FALSE, sizeof(Memory));
    g_mutex_init(&c->lock);
    g_mutex_init(&c->send_lock);
    g_cond_init(&c->cond);
    c->wake[0] = c->wake[1] = -1;
    c->fd = vfc_connect_silent(path);
    if (c->fd < 0) {
        r = c->fd;
        c->fd = -1;
        goto fail;
    }

    /* Version 0.2 (the minor is informational), capabilities as JSON. */
    json = g_string_new("{\"capabilities\":{\"max_msg_fds\":8");
    if (opts && opts->max_transfer)
        g_string_append_printf(json, ",\"max_data_xfer_size\":%" PRIu64,
                               opts->max_transfer);
    if (opts && opts->twin_socket)
        g_string_append(json, ",\"twin_socket\":{\"supported\":true}");
    g_string_append(json, "}}");
    {
        size_t len = 4 + json->len + 1;
        uint8_t *p = g_malloc0(len);

        put16(p, 0);
        put16(p + 2, 2);
        memcpy(p + 4, json->str, json->len + 1);
        r = send_message(c, c->fd, 0, VFC_VERSION, 0, 0, p, len, -1);
        g_free(p);
    }
    g_string_free(json, TRUE);
    if (r < 0)
        goto fail;
    r = read_message(c->fd, &m);
    if (r == 0 && ((m.flags & F_TYPE_MASK) != F_REPLY || m.cmd != VFC_VERSION))
        r = -EPROTO;
    if (r == 0 && (m.flags & F_ERROR))
        r = -(int)m.error;
    if (r == 0 && m.fd >= 0) {
        /* The server's JSON names the fd only when it agreed to twins. */
        if (opts && opts->twin_socket &&
            strstr((const char *)m.payload + 4, "twin_socket") != NULL) {
            c->cmd_fd = m.fd;
            m.fd = -1;
        }
    }
    if (m.fd >= 0)
        close(m.fd);
    g_free(m.payload);
    if (r < 0)
        goto fail;

    if (pipe(c->wake) < 0) {
        r = -errno;
        goto fail;
    }
    c->reader = g_thread_new("vfc-reader", reader_main, c);
    *ret = c;
    return 0;

fail:
    vfc_free(c);
    return r;
}

void vfc_kill(VfuClient *c)
{
    /* shutdown, not close: the reader may still poll these numbers. */
    shutdown(c->fd, SHUT_RDWR);
    if (c->cmd_fd >= 0)
        shutdown(c->cmd_fd, SHUT_RDWR);
}

void vfc_free(VfuClient *c)
{
    if (c == NULL)
        return;
    if (c->reader != NULL) {
        char b = 0;
        ssize_t n = write(c->wake[1], &b, 1);

        (void)n;
        g_thread_join(c->reader);
    }
    if (c->fd >= 0)
        close(c->fd);
    if (c->cmd_fd >= 0)
        close(c->cmd_fd);
    if (c->wake[0] >= 0) {
        close(c->wake[0]);
        close(c->wake[1]);
    }
    g_array_free(c->memory, TRUE);
    g_free(c->reply);
    g_mutex_clear(&c->lock);
    g_mutex_clear(&c->send_lock);
    g_cond_clear(&c->cond);
    g_free(c);
}

bool vfc_has_twin_socket(VfuClient *c)
{
    return c->cmd_fd >= 0;
}

void vfc_set_dma_hook(VfuClient *c, VfcDmaHook hook, void *data)
{
    g_mutex_lock(&c->lock);
    c->hook = hook;
    c->hook_data = data;
    g_mutex_unlock(&c->lock);
}

void vfc_add_memory(VfuClient *c, uint64_t iova, uint64_t size, void *host,
                    bool writable)
{
    Memory m = {iova, size, host, writable};

    g_mutex_lock(&c->lock);
    g_array_append_val(c->memory, m);
    g_mutex_unlock(&c->lock);
}

void vfc_remove_memory(VfuClient *c, uint64_t iova)
{
    g_mutex_lock(&c->lock);
    for (guint i = 0; i < c->memory->len; i++) {
        if (g_array_index(c->memory, Memory, i).iova == iova) {
            g_array_remove_index(c->memory, i);
            break;
        }
    }
    g_mutex_unlock(&c->lock);
}

int vfc_dma_map(VfuClient *c, uint64_t iova, uint64_t size, uint32_t flags,
                int fd, uint64_t offset)
{
    uint8_t p[32];

    put32(p, sizeof(p));
    put32(p + 4, flags);
    put64(p + 8, offset);
    put64(p + 16, iova);
    put64(p + 24, size);
    return vfc_request(c, VFC_DMA_MAP, p, sizeof(p), fd, NULL, 0, NULL);
}

int vfc_dma_unmap(VfuClient *c, uint64_t iova, uint64_t size)
{
    uint8_t p[24];
    int r;

    put32(p, sizeof(p));
    put32(p + 4, 0);
    put64(p + 8, iova);
    put64(p + 16, size);
    r = vfc_request(c, VFC_DMA_UNMAP, p, sizeof(p), -1, NULL, 0, NULL);
    /* From the reply on, the server must not touch it: stop serving it. */
    if (r == 0)
        vfc_remove_memory(c, iova);
    return r;
}

int vfc_region_info(VfuClient *c, uint32_t index, uint64_t *size,
                    uint32_t *flags)
{
    uint8_t p[32] = {0}, reply[32];
    size_t len = 0;
    int r;

    put32(p, sizeof(p));
    put32(p + 8, index);
    r = vfc_request(c, VFC_DEVICE_GET_REGION_INFO, p, sizeof(p), -1, reply,
                    sizeof(reply), &len);
    if (r < 0)
        return r;
    if (len < 32)
        return -EPROTO;
    *flags = get32(reply + 4);
    *size = get64(reply + 16);
    return 0;
}

int vfc_region_read(VfuClient *c, uint32_t index, uint64_t offset, void *buf,
                    uint32_t count)
{
    uint8_t p[16];
    uint8_t *reply = g_malloc(16 + (size_t)count);
    size_t len = 0;
    int r;

    put64(p, offset);
    put32(p + 8, index);
    put32(p + 12, count);
    r = vfc_request(c, VFC_REGION_READ, p, sizeof(p), -1, reply,
                    16 + (size_t)count, &len);
    if (r == 0 && len != 16 + (size_t)count)
        r = -EPROTO;
    if (r == 0)
        memcpy(buf, reply + 16, count);
    g_free(reply);
    return r;
}

int vfc_region_write(VfuClient *c, uint32_t index, uint64_t offset,
                     const void *buf, uint32_t count)
{
    uint8_t *p = g_malloc(16 + (size_t)count);
    int r;

    put64(p, offset);
    put32(p + 8, index);
    put32(p + 12, count);
    memcpy(p + 16, buf, count);
    r = vfc_request(c, VFC_REGION_WRITE, p, 16 + (size_t)count, -1, NULL, 0,
                    NULL);
    g_free(p);
    return r;
}

/* DEVICE_FEATURE flags: feature index, GET, SET. */
#define FEATURE_GET (1u << 16)
#define FEATURE_SET (1u << 17)
#define LOGGING_START 6u
#define LOGGING_STOP 7u
#define LOGGING_REPORT 8u

int vfc_dirty_start(VfuClient *c, uint64_t page_size, uint64_t iova,
                    uint64_t len)
{
    uint8_t p[8 + 16 + 16];

    put32(p, sizeof(p));
    put32(p + 4, FEATURE_SET | LOGGING_START);
    put64(p + 8, page_size);
    put32(p + 16, 1);
    put32(p + 20, 0);
    put64(p + 24, iova);
    put64(p + 32, len);
    return vfc_request(c, VFC_DEVICE_FEATURE, p, sizeof(p), -1, NULL, 0, NULL);
}

int vfc_dirty_stop(VfuClient *c)
{
    uint8_t p[8];

    put32(p, sizeof(p));
    put32(p + 4, FEATURE_SET | LOGGING_STOP);
    return vfc_request(c, VFC_DEVICE_FEATURE, p, sizeof(p), -1, NULL, 0, NULL);
}

int vfc_dirty_report(VfuClient *c, uint64_t iova, uint64_t len,
                     uint64_t page_size, uint8_t *bitmap, size_t bitmap_len)
{
    uint8_t p[8 + 24];
    size_t reply_cap = 8 + 24 + bitmap_len, got = 0;
    uint8_t *reply = g_malloc(reply_cap);
    int r;

    /* argsz: room for the reply, bitmap included. */
    put32(p, (uint32_t)reply_cap);
    put32(p + 4, FEATURE_GET | LOGGING_REPORT);
    put64(p + 8, iova);
    put64(p + 16, len);
    put64(p + 24, page_size);
    r = vfc_request(c, VFC_DEVICE_FEATURE, p, sizeof(p), -1, reply, reply_cap,
                    &got);
    if (r == 0 && got != reply_cap)
        r = -EPROTO;
    if (r == 0)
        memcpy(bitmap, reply + 32, bitmap_len);
    g_free(reply);
    return r;
}

void vfc_get_stats(VfuClient *c, VfcStats *stats)
{
    g_mutex_lock(&c->lock);
    *stats = c->stats;
    g_mutex_unlock(&c->lock);
}

void vfc_reset_stats(VfuClient *c)
{
    g_mutex_lock(&c->lock);
    memset(&c->stats, 0, sizeof(c->stats));
    g_mutex_unlock(&c->lock);
}

char *vfc_socket_path_new(char **dir)
{
    *dir = g_dir_make_tmp("dms-vfu-XXXXXX", NULL);
    return *dir ? g_build_filename(*dir, "sock", NULL) : NULL;
}

void vfc_socket_path_free(char *path, char *dir)
{
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}
