/*
 * virt.c -- console and exit on QEMU's RISC-V "virt" board (bnncompile
 * targets/riscv); the interface is target.h.
 *
 * Console: the NS16550A UART at 0x10000000 (QEMU -serial stdio), polled.
 * Exit: the SiFive test device at 0x100000. Writing 0x5555 stops QEMU with
 * status 0; (code << 16) | 0x3333 stops it with status `code`. Both are
 * plain memory-mapped registers, so this also works without a debugger.
 */
#include "target.h"

#include <stdint.h>

#define UART_BASE 0x10000000u
#define UART_THR 0u        /* transmit holding register */
#define UART_LSR 5u        /* line status register */
#define UART_LSR_THRE 0x20u /* transmitter holding register empty */

#define FINISHER ((volatile uint32_t *)0x00100000u)
#define FINISHER_FAIL 0x3333u
#define FINISHER_PASS 0x5555u

static void uart_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;
    while ((uart[UART_LSR] & UART_LSR_THRE) == 0u) {
    }
    uart[UART_THR] = (uint8_t)c;
}

void console_write(const char *s)
{
    for (; *s; ++s) {
        uart_putc(*s);
    }
}

void target_exit(int code)
{
    uint32_t status = (uint32_t)code & 0xFFu; /* the host keeps only the low 8 bits */
    if (code != 0 && status == 0u) {
        status = 1u;
    }
    *FINISHER = status == 0u ? FINISHER_PASS : (status << 16) | FINISHER_FAIL;
    for (;;) {
    }
}
