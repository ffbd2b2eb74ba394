/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The registers of vfu-dma-device, for the device (main.c) and the
 * clients that drive it (tests/test-vfu-example.c).
 *
 * BAR0 is 4 KiB of little-endian registers:
 *   0x00 SRC      u64  source DMA address
 *   0x08 DST      u64  destination DMA address
 *   0x10 LEN      u32  bytes to copy, at most 16 MiB
 *   0x14 DOORBELL u32  writing 1 copies LEN bytes from SRC to DST through
 *                      the device's DmsSpace, before the write's reply;
 *                      reads 0
 *   0x18 STATUS   u32  0 after a successful copy, else the positive errno
 *   0x1c COUNT    u32  copies done
 * Every register may be accessed with any aligned 1, 2, 4 or 8-byte
 * access, so a 64-bit register may be written as two 32-bit halves. The
 * rest of the BAR reads 0 and ignores writes. A copy whose source or
 * destination is not wholly client memory fails before it moves a byte
 * (STATUS set, DST untouched, COUNT unchanged). Registers are per client:
 * a reset or a new client starts them at 0.
 */
#ifndef VFU_DMA_DEVICE_REGS_H
#define VFU_DMA_DEVICE_REGS_H

#define REG_SRC 0x00
#define REG_DST 0x08
#define REG_LEN 0x10
#define REG_DOORBELL 0x14
#define REG_STATUS 0x18
#define REG_COUNT 0x1c
#define REG_END 0x20

#endif /* VFU_DMA_DEVICE_REGS_H */
