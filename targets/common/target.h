/*
 * target.h -- what a bnncompile test program may call on a bare-metal target
 * under QEMU (bnncompile targets/).
 *
 * Every target family provides the startup code (reset, .data/.bss set-up,
 * stack painting, fault reporting) and two primitives:
 *     targets/cortex-m/semihost.c   ARM semihosting (`bkpt 0xab`)
 *     targets/riscv/virt.c          the QEMU virt board's 16550 UART and its
 *                                   SiFive test device (the "finisher")
 * console.c, beside this file, builds a tiny printf on console_write.
 *
 * console_printf supports exactly
 *     %d %i %u %x %X %c %s %%     (an 'l' or 'z' length modifier is accepted)
 *     %e %g %f                     (a double, always printed as %.Ne, N =
 *                                   precision, default 6, at most 16)
 * without widths or flags; it is plain C99 and needs no libc stdio.
 */
#ifndef BNN_TARGET_H
#define BNN_TARGET_H

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define TARGET_NORETURN __attribute__((noreturn))
#define TARGET_PRINTF_FORMAT __attribute__((format(printf, 1, 2)))
#else
#define TARGET_NORETURN
#define TARGET_PRINTF_FORMAT
#endif

/* Exit statuses the startup code uses for faults; main's own value otherwise. */
#define TARGET_EXIT_FAULT 100      /* HardFault / RISC-V exception */
#define TARGET_EXIT_UNEXPECTED 101 /* any other exception or interrupt */

/* Write a NUL-terminated string to the host's console. */
void console_write(const char *s);

/*
 * Stop the simulation: QEMU exits with status `code`. The host keeps the low
 * 8 bits; a non-zero code whose low 8 bits are 0 becomes 1, so failure is
 * never reported as success.
 */
void target_exit(int code) TARGET_NORETURN;

/* printf-like output through console_write; the subset above. */
int console_printf(const char *fmt, ...) TARGET_PRINTF_FORMAT;
int console_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Provided by the startup code: the stack high-water mark since reset (the
 * stack is painted at reset) and the stack size the linker script reserved. */
unsigned long startup_stack_used(void);
unsigned long startup_stack_size(void);

#endif /* BNN_TARGET_H */
