/*
 * semihost.h -- ARM semihosting for bare-metal Cortex-M under QEMU
 * (bnncompile targets/cortex-m).
 *
 * Semihosting is a `bkpt 0xab` that the debugger -- here QEMU, started
 * with `-semihosting-config enable=on,target=native` -- intercepts. On real
 * hardware without a debugger attached the bkpt is a HardFault, so these
 * functions are for simulation and debug probes only.
 *
 * No newlib stdio: semihost_printf is a tiny formatter (a few hundred bytes)
 * that supports exactly
 *     %d %i %u %x %X %c %s %%     (an 'l' length modifier is accepted)
 *     %e %g %f                     (a double, always printed as %.Ne, N =
 *                                   precision, default 6, at most 16)
 * without widths or flags. It is plain C99, Thumb-1 safe.
 */
#ifndef BNN_SEMIHOST_H
#define BNN_SEMIHOST_H

#include <stdarg.h>
#include <stddef.h>

/* Exit codes the startup code uses for faults; main's own value otherwise. */
#define SEMIHOST_EXIT_HARDFAULT 100
#define SEMIHOST_EXIT_UNEXPECTED_IRQ 101

/* SYS_WRITE0: write a NUL-terminated string to the host console. */
void semihost_write0(const char *s);

/*
 * Stop the simulation: QEMU exits with status `code` (the host keeps its low
 * 8 bits; a non-zero code whose low 8 bits are 0 becomes 1). Uses
 * SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit, falling back to plain
 * SYS_EXIT (status 0 or 1 only) if the host lacks the extension.
 */
void semihost_exit(int code)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

/* printf-like output through semihost_write0; the subset above. */
int semihost_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
int semihost_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Provided by startup.c: the stack high-water mark since reset (the stack
 * is painted at reset) and the stack size the linker script reserved. */
unsigned long startup_stack_used(void);
unsigned long startup_stack_size(void);

#endif /* BNN_SEMIHOST_H */
