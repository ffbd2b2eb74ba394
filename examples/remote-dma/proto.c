/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frame encoding and parsing, and robust stream-socket I/O, for the
 * remote-dma protocol (doc/protocol.md).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <dmaspace/endian.h>

#include "proto.h"

/* Byte offsets of the header fields; all little-endian on the wire. */
enum {
    OFF_MAGIC = 0,        /* u32 */
    OFF_VERSION = 4,      /* u8 */
    OFF_OP = 5,           /* u8 */
    OFF_RESERVED = 6,     /* u16, must be 0 */
    OFF_ID = 8,           /* u32 */
    OFF_STATUS = 12,      /* u32 */
    OFF_ADDR = 16,        /* u64 */
    OFF_LEN = 24,         /* u32 */
    OFF_PAYLOAD_LEN = 28, /* u32 */
};

/* Largest iovec array rdma_io_send() copies to its stack. */
#define IO_MAX_IOV 8

static bool op_is_known(uint8_t op)
{
    return op == RDMA_OP_READ || op == RDMA_OP_WRITE ||
           op == RDMA_OP_READ_REPLY || op == RDMA_OP_WRITE_REPLY;
}

/*
 * The payload a frame must carry follows from its op and status, so a
 * frame whose payload_len disagrees is malformed rather than trusted: a
 * peer cannot make us buffer bytes the op has no use for.
 */
static uint32_t expected_payload(const RdmaFrame *f)
{
    switch (f->op) {
    case RDMA_OP_WRITE:
        return f->len;
    case RDMA_OP_READ_REPLY:
        return f->status == RDMA_STATUS_OK ? f->len : 0;
    default:
        return 0;
    }
}

int rdma_header_parse(const uint8_t *buf, size_t len, RdmaFrame *out)
{
    RdmaFrame f;

    if (len < RDMA_HEADER_SIZE) {
        return -ENODATA;
    }
    if (dms_le32_load(buf + OFF_MAGIC) != RDMA_MAGIC) {
        return -EBADMSG;
    }
    if (buf[OFF_VERSION] != RDMA_VERSION) {
        return -EPROTONOSUPPORT;
    }

    f.op = buf[OFF_OP];
    f.id = dms_le32_load(buf + OFF_ID);
    f.status = dms_le32_load(buf + OFF_STATUS);
    f.addr = dms_le64_load(buf + OFF_ADDR);
    f.len = dms_le32_load(buf + OFF_LEN);
    f.payload_len = dms_le32_load(buf + OFF_PAYLOAD_LEN);
    f.payload = NULL;

    if (!op_is_known(f.op) || dms_le16_load(buf + OFF_RESERVED) != 0) {
        return -EBADMSG;
    }
    /* Before the consistency checks, so oversize is reported as such. */
    if (f.len > RDMA_MAX_PAYLOAD || f.payload_len > RDMA_MAX_PAYLOAD) {
        return -EMSGSIZE;
    }
    if (f.op & RDMA_OP_REPLY) {
        if (f.status > RDMA_STATUS_LAST) {
            return -EBADMSG;
        }
    } else if (f.status != 0) {
        return -EBADMSG;
    }
    if (f.payload_len != expected_payload(&f)) {
        return -EBADMSG;
    }

    *out = f;
    return 0;
}

int rdma_frame_parse(const uint8_t *buf, size_t len, RdmaFrame *out)
{
    size_t total;
    int r;

    r = rdma_header_parse(buf, len, out);
    if (r < 0) {
        return r;
    }
    /* payload_len <= RDMA_MAX_PAYLOAD, so total fits in an int. */
    total = RDMA_HEADER_SIZE + (size_t)out->payload_len;
    if (len < total) {
        return -ENODATA;
    }
    out->payload = out->payload_len ? buf + RDMA_HEADER_SIZE : NULL;
    return (int)total;
}

void rdma_header_encode(const RdmaFrame *frame, uint8_t buf[RDMA_HEADER_SIZE])
{
    dms_le32_store(buf + OFF_MAGIC, RDMA_MAGIC);
    buf[OFF_VERSION] = RDMA_VERSION;
    buf[OFF_OP] = frame->op;
    dms_le16_store(buf + OFF_RESERVED, 0);
    dms_le32_store(buf + OFF_ID, frame->id);
    dms_le32_store(buf + OFF_STATUS, frame->status);
    dms_le64_store(buf + OFF_ADDR, frame->addr);
    dms_le32_store(buf + OFF_LEN, frame->len);
    dms_le32_store(buf + OFF_PAYLOAD_LEN, frame->payload_len);
}

int rdma_status_to_errno(uint32_t status)
{
    switch (status) {
    case RDMA_STATUS_OK:
        return 0;
    case RDMA_STATUS_RANGE:
        return -EFAULT;
    case RDMA_STATUS_INVALID:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/*
 * A closed peer shows up as EPIPE or ECONNRESET depending on timing (and
 * as ENOTCONN after a local shutdown); callers care only that the
 * connection is gone.
 */
static int io_errno(int err)
{
    if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
        return -ENOTCONN;
    }
    return -err;
}

int64_t rdma_deadline_after(unsigned timeout_ms)
{
    struct timespec ts;

    if (timeout_ms == 0) {
        return RDMA_NO_DEADLINE;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec +
           (int64_t)timeout_ms * 1000000;
}

/*
 * Milliseconds until @deadline for poll(), rounded up so that a wait never
 * ends before it: -1 for none, 0 once it has passed.
 */
static int ms_until(int64_t deadline)
{
    struct timespec ts;
    int64_t now, left;

    if (deadline == RDMA_NO_DEADLINE) {
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (now >= deadline) {
        return 0;
    }
    left = (deadline - now + 999999) / 1000000;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/*
 * Waits until @fd is ready (for a non-blocking socket, or for one the
 * caller gave a deadline), or until @deadline: then -ETIMEDOUT.
 */
static int io_wait(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int timeout = ms_until(deadline);
        int n;

        if (timeout == 0) {
            return -ETIMEDOUT;
        }
        n = poll(&pfd, 1, timeout);
        if (n > 0) {
            return 0; /* ready, or hung up: the next call tells which */
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        /* Timed out or interrupted: ms_until() decides which. */
    }
}

int rdma_io_send_until(int fd, const struct iovec *iov, int iovcnt,
                       int64_t deadline)
{
    struct iovec vec[IO_MAX_IOV];
    struct msghdr msg = {0};
    /* With a deadline, never block in sendmsg(): wait in poll() instead. */
    int flags =
        MSG_NOSIGNAL | (deadline == RDMA_NO_DEADLINE ? 0 : MSG_DONTWAIT);
    int first = 0;

    if (iovcnt < 0 || iovcnt > IO_MAX_IOV) {
        return -EINVAL;
    }
    memcpy(vec, iov, (size_t)iovcnt * sizeof(vec[0]));

    for (;;) {
        ssize_t n;
        size_t left;

        /* Skip what is fully sent, including empty entries. */
        while (first < iovcnt && vec[first].iov_len == 0) {
            first++;
        }
        if (first == iovcnt) {
            return 0;
        }

        msg.msg_iov = vec + first;
        msg.msg_iovlen = (size_t)(iovcnt - first);
        /* MSG_NOSIGNAL: a closed peer is an error code, not a SIGPIPE. */
        n = sendmsg(fd, &msg, flags);
        if (n < 0) {
            int r;

            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return io_errno(errno);
            }
            r = io_wait(fd, POLLOUT, deadline);
            if (r < 0) {
                return r;
            }
            continue;
        }

        /* Consume what went out, from the front. */
        left = (size_t)n;
        while (left > 0) {
            size_t step = vec[first].iov_len;

            if (step == 0) { /* an empty entry: its base may be NULL */
                first++;
                continue;
            }
            if (step > left) {
                step = left;
            }
            vec[first].iov_base = (uint8_t *)vec[first].iov_base + step;
            vec[first].iov_len -= step;
            left -= step;
        }
    }
}

int rdma_io_send(int fd, const struct iovec *iov, int iovcnt)
{
    return rdma_io_send_until(fd, iov, iovcnt, RDMA_NO_DEADLINE);
}

int rdma_io_recv_until(int fd, void *buf, size_t len, size_t *got,
                       int64_t deadline)
{
    /*
     * MSG_WAITALL: one call for a whole payload when nothing interrupts;
     * the loop still handles whatever does. With a deadline, never block
     * in recv(): wait in poll() instead.
     */
    int flags = deadline == RDMA_NO_DEADLINE ? MSG_WAITALL : MSG_DONTWAIT;
    size_t done = 0;
    int r = 0;

    while (done < len) {
        ssize_t n = recv(fd, (uint8_t *)buf + done, len - done, flags);

        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0) {
            r = -ENOTCONN;
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            r = io_errno(errno);
            break;
        }
        r = io_wait(fd, POLLIN, deadline);
        if (r < 0) {
            break;
        }
    }
    if (got) {
        *got = done;
    }
    return r;
}

int rdma_io_recv(int fd, void *buf, size_t len, size_t *got)
{
    return rdma_io_recv_until(fd, buf, len, got, RDMA_NO_DEADLINE);
}
