/*
 * semihost.c -- console and exit for Cortex-M under QEMU through ARM
 * semihosting (bnncompile targets/cortex-m); the interface is target.h.
 *
 * Semihosting is a `bkpt 0xab` that the debugger -- here QEMU, started with
 * `-semihosting-config enable=on,target=native` -- intercepts. On real
 * hardware without a debugger attached the bkpt is a HardFault, so this file
 * is for simulation and debug probes only.
 */
#include "target.h"

#include <stdint.h>

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023u

/* r0 = operation, r1 = argument (a pointer, or a value for SYS_EXIT). */
static uint32_t semihost_call(uint32_t op, uint32_t arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register uint32_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* SYS_WRITE0: a NUL-terminated string to the host console. */
void console_write(const char *s)
{
    semihost_call(SYS_WRITE0, (uint32_t)(uintptr_t)s);
}

/* SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit and the status; a host
 * without the extension gets the AArch32 SYS_EXIT, which passes the reason
 * itself and so gives exit status 0 or 1 only. */
void target_exit(int code)
{
    uint32_t status = (uint32_t)code;
    volatile uint32_t block[2];
    if (status != 0u && (status & 0xFFu) == 0u) {
        status = 1u; /* the host keeps only the low 8 bits */
    }
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = status;
    semihost_call(SYS_EXIT_EXTENDED, (uint32_t)(uintptr_t)block);
    semihost_call(SYS_EXIT, status == 0u ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR_UNKNOWN);
    for (;;) {
    }
}
