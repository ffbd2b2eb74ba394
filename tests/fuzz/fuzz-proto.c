/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the remote-dma frame parser (examples/remote-dma/proto.h),
 * the code that reads what a remote peer sends.
 *
 * The input is a byte stream as it might arrive on the socket. It is
 * parsed frame after frame, the way a receiver does, and every answer is
 * checked against a reference decoder written here from doc/protocol.md:
 * the same error for a bad header, the same fields for a good one, a
 * frame size of header plus payload, a payload pointer inside the buffer.
 * Also checked: the header parser writes nothing on failure, a frame
 * re-encodes to its own header bytes, and every shorter prefix of a
 * frame asks for more data (-ENODATA) rather than misparsing.
 *
 * Each frame is parsed from an exactly sized copy, so ASan sees any read
 * past what the peer sent.
 */
#include <errno.h>
#include <string.h>

#include <dmaspace/endian.h>

#include "fuzz.h"
#include "proto.h"

/* The layout of doc/protocol.md, independently of proto.c. */
static int reference_parse(const uint8_t *b, size_t len, RdmaFrame *f)
{
    uint32_t want;

    if (len < 32)
        return -ENODATA;
    if (dms_le32_load(b) != 0x414d4452)
        return -EBADMSG;
    if (b[4] != 1)
        return -EPROTONOSUPPORT;
    f->op = b[5];
    f->id = dms_le32_load(b + 8);
    f->status = dms_le32_load(b + 12);
    f->addr = dms_le64_load(b + 16);
    f->len = dms_le32_load(b + 24);
    f->payload_len = dms_le32_load(b + 28);
    if ((f->op != 0x01 && f->op != 0x02 && f->op != 0x81 && f->op != 0x82) ||
        b[6] != 0 || b[7] != 0)
        return -EBADMSG;
    if (f->len > (1u << 20) || f->payload_len > (1u << 20))
        return -EMSGSIZE;
    if ((f->op & 0x80) ? f->status > 2 : f->status != 0)
        return -EBADMSG;
    if (f->op == 0x02)
        want = f->len;
    else if (f->op == 0x81 && f->status == 0)
        want = f->len;
    else
        want = 0;
    if (f->payload_len != want)
        return -EBADMSG;
    return len < 32 + (size_t)f->payload_len ? -ENODATA
                                             : (int)(32 + f->payload_len);
}

static void check_frame(const uint8_t *data, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    RdmaFrame got, ref, untouched;
    int r, want;

    FUZZ_CHECK(buf != NULL, "malloc");
    memcpy(buf, data, len);

    memset(&got, 0x5a, sizeof(got));
    memset(&untouched, 0x5a, sizeof(untouched));
    r = rdma_header_parse(buf, len, &got);
    want = reference_parse(buf, len, &ref);
    if (want == -ENODATA && len >= RDMA_HEADER_SIZE)
        want = 0; /* the header alone is complete */
    if (want > 0)
        want = 0;
    FUZZ_CHECK(r == want, "header parse: %d, want %d", r, want);
    if (r < 0)
        FUZZ_CHECK(memcmp(&got, &untouched, sizeof(got)) == 0,
                   "failed header parse wrote its output");

    r = rdma_frame_parse(buf, len, &got);
    want = reference_parse(buf, len, &ref);
    FUZZ_CHECK(r == want, "frame parse: %d, want %d", r, want);
    if (r > 0) {
        uint8_t header[RDMA_HEADER_SIZE];

        FUZZ_CHECK(got.op == ref.op && got.id == ref.id &&
                       got.status == ref.status && got.addr == ref.addr &&
                       got.len == ref.len &&
                       got.payload_len == ref.payload_len,
                   "frame fields differ");
        FUZZ_CHECK((size_t)r == RDMA_HEADER_SIZE + got.payload_len &&
                       (size_t)r <= len,
                   "frame size %d", r);
        FUZZ_CHECK(got.payload_len ? got.payload == buf + RDMA_HEADER_SIZE
                                   : got.payload == NULL,
                   "payload pointer");
        rdma_header_encode(&got, header);
        FUZZ_CHECK(memcmp(header, buf, RDMA_HEADER_SIZE) == 0,
                   "frame does not re-encode to its header");
        /* Every strict prefix is an incomplete frame, never another one. */
        for (size_t cut = 0; cut < (size_t)r; cut += 1 + cut / 4) {
            int p = rdma_frame_parse(buf, cut, &got);
            FUZZ_CHECK(p == -ENODATA, "prefix of %zu bytes: %d", cut, p);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;

    /* A stream: parse, skip the frame, go on; stop at the first error. */
    for (;;) {
        RdmaFrame f;
        int r;

        check_frame(data + pos, size - pos);
        r = rdma_frame_parse(data + pos, size - pos, &f);
        if (r <= 0)
            break;
        pos += (size_t)r;
    }
    return 0;
}
