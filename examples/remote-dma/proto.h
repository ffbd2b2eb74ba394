/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The remote-memory protocol of the remote-dma example: frame layout,
 * a pure frame parser, a header encoder, and socket I/O that survives
 * partial transfers, EINTR and non-blocking sockets.
 *
 * doc/protocol.md is the specification; this header is one implementation
 * of it. Nothing here uses the library: the parser is a pure function over
 * a byte buffer (fuzz it), and the I/O helpers only need a stream socket.
 *
 * Error codes (negative errno) used by this module:
 *   -ENODATA          the buffer holds only the start of a frame
 *   -EBADMSG          malformed frame: magic, op, reserved bits, status,
 *                     or a payload length that does not fit the op
 *   -EPROTONOSUPPORT  a protocol version this code does not speak
 *   -EMSGSIZE         a length above RDMA_MAX_PAYLOAD
 *   -ENOTCONN         the peer closed the connection (EOF, EPIPE, reset)
 *   -ETIMEDOUT        a deadline passed before the transfer was complete
 */
#ifndef RDMA_PROTO_H
#define RDMA_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* "RDMA" in the first four bytes of every frame. */
#define RDMA_MAGIC UINT32_C(0x414d4452)
#define RDMA_VERSION 1

/* Every frame starts with this many header bytes. */
#define RDMA_HEADER_SIZE 32

/*
 * The most bytes one request may cover, and so the largest payload of any
 * frame. Bounds what a peer can make the other side buffer.
 */
#define RDMA_MAX_PAYLOAD (UINT32_C(1) << 20)

/* Ops. A reply is its request's op with RDMA_OP_REPLY set. */
#define RDMA_OP_READ 0x01
#define RDMA_OP_WRITE 0x02
#define RDMA_OP_REPLY 0x80
#define RDMA_OP_READ_REPLY (RDMA_OP_READ | RDMA_OP_REPLY)
#define RDMA_OP_WRITE_REPLY (RDMA_OP_WRITE | RDMA_OP_REPLY)

/* Reply status. Requests carry 0. */
#define RDMA_STATUS_OK 0
#define RDMA_STATUS_RANGE 1   /* [addr, addr + len) is not all in memory */
#define RDMA_STATUS_INVALID 2 /* a zero-length request */
#define RDMA_STATUS_LAST RDMA_STATUS_INVALID

/**
 * RdmaFrame:
 * @op: RDMA_OP_*
 * @id: request id; a reply carries its request's id
 * @status: RDMA_STATUS_* in replies, 0 in requests
 * @addr: first byte of the server's memory the request covers
 * @len: bytes the request covers; a reply echoes it
 * @payload_len: bytes of payload after the header: @len for a WRITE and
 *   for a successful READ_REPLY, 0 otherwise
 * @payload: after a complete rdma_frame_parse(), points at the payload
 *   inside the parsed buffer; NULL if @payload_len is 0 or not parsed
 *
 * A decoded frame, numbers in host order.
 */
typedef struct RdmaFrame {
    uint8_t op;
    uint32_t id;
    uint32_t status;
    uint64_t addr;
    uint32_t len;
    uint32_t payload_len;
    const uint8_t *payload;
} RdmaFrame;

/**
 * rdma_header_parse:
 * @buf: the bytes received
 * @len: bytes at @buf
 * @out: (out): the decoded header; @out->payload is set to NULL
 *
 * Decodes and validates the header at the start of @buf. Pure: touches
 * nothing but @out, which is written only on success.
 *
 * Returns: 0; -ENODATA if @len < RDMA_HEADER_SIZE; -EBADMSG,
 * -EPROTONOSUPPORT or -EMSGSIZE for an invalid header.
 */
int rdma_header_parse(const uint8_t *buf, size_t len, RdmaFrame *out);

/**
 * rdma_frame_parse:
 * @buf: the bytes received
 * @len: bytes at @buf
 * @out: (out): the decoded frame
 *
 * Parses the frame at the start of @buf, header and payload. Pure. The
 * header is validated before the payload is waited for, so an oversized
 * or malformed frame is refused from its first RDMA_HEADER_SIZE bytes.
 *
 * Returns: the frame's size in bytes (RDMA_HEADER_SIZE + payload), with
 * @out filled and @out->payload pointing into @buf; -ENODATA if more bytes
 * are needed (@out holds the header if @len covered it); -EBADMSG,
 * -EPROTONOSUPPORT or -EMSGSIZE for an invalid header.
 */
int rdma_frame_parse(const uint8_t *buf, size_t len, RdmaFrame *out);

/**
 * rdma_header_encode:
 * @frame: the header fields; @frame->payload is ignored
 * @buf: (out caller-allocates): RDMA_HEADER_SIZE bytes
 *
 * Writes the header in wire order. Does not validate: a test may encode a
 * frame a correct peer would never send.
 */
void rdma_header_encode(const RdmaFrame *frame, uint8_t buf[RDMA_HEADER_SIZE]);

/**
 * rdma_status_to_errno:
 * @status: a reply status
 *
 * Returns: 0 for RDMA_STATUS_OK, -EFAULT for RANGE, -EINVAL for INVALID,
 * -EIO for anything else.
 */
int rdma_status_to_errno(uint32_t status);

/**
 * rdma_io_send:
 * @fd: a connected stream socket, blocking or not
 * @iov: the bytes to send, in order
 * @iovcnt: entries in @iov, at most 8
 *
 * Sends every byte, resuming after partial sends, EINTR and (for a
 * non-blocking @fd) EAGAIN. Never raises SIGPIPE. @iov is not modified.
 *
 * Returns: 0; -ENOTCONN if the peer closed the connection; -EINVAL for
 * more than 8 entries; another negative errno from sendmsg() or poll().
 */
int rdma_io_send(int fd, const struct iovec *iov, int iovcnt);

/**
 * rdma_io_recv:
 * @fd: a connected stream socket, blocking or not
 * @buf: (out caller-allocates): @len bytes
 * @len: bytes to receive
 * @got: (out) (optional): bytes received, also on failure
 *
 * Receives exactly @len bytes, resuming after partial reads, EINTR and
 * EAGAIN.
 *
 * Returns: 0; -ENOTCONN if the peer closed the connection before @len
 * bytes came (*@got tells whether any did); another negative errno from
 * recv() or poll().
 */
int rdma_io_recv(int fd, void *buf, size_t len, size_t *got);

/*
 * Deadlines of the I/O helpers: a CLOCK_MONOTONIC time in nanoseconds.
 * RDMA_NO_DEADLINE never passes.
 */
#define RDMA_NO_DEADLINE INT64_MAX

/**
 * rdma_deadline_after:
 * @timeout_ms: milliseconds from now; 0 for none
 *
 * Returns: the deadline @timeout_ms from now, or RDMA_NO_DEADLINE for 0.
 */
int64_t rdma_deadline_after(unsigned timeout_ms);

/**
 * rdma_io_send_until:
 * @fd: a connected stream socket, blocking or not
 * @iov: the bytes to send, in order
 * @iovcnt: entries in @iov, at most 8
 * @deadline: when to give up (rdma_deadline_after()), or RDMA_NO_DEADLINE
 *
 * rdma_io_send() with a deadline: a peer that stops reading cannot hold
 * the caller past it. With a deadline the socket is never blocked on:
 * the wait is in poll().
 *
 * Returns: as rdma_io_send(), or -ETIMEDOUT once @deadline has passed
 * with bytes still unsent (how many went out is unknown: the stream is
 * then out of step and the connection must be closed).
 */
int rdma_io_send_until(int fd, const struct iovec *iov, int iovcnt,
                       int64_t deadline);

/**
 * rdma_io_recv_until:
 * @fd: a connected stream socket, blocking or not
 * @buf: (out caller-allocates): @len bytes
 * @len: bytes to receive
 * @got: (out) (optional): bytes received, also on failure
 * @deadline: when to give up (rdma_deadline_after()), or RDMA_NO_DEADLINE
 *
 * rdma_io_recv() with a deadline: a peer that stops sending mid-frame
 * cannot hold the caller past it.
 *
 * Returns: as rdma_io_recv(), or -ETIMEDOUT once @deadline has passed
 * before @len bytes came.
 */
int rdma_io_recv_until(int fd, void *buf, size_t len, size_t *got,
                       int64_t deadline);

#endif /* RDMA_PROTO_H */
