/*
 * startup.c -- minimal RISC-V (rv32, machine mode) startup for bnncompile
 * test programs under QEMU (virt board, -bios none).
 *
 *   _start:        set gp and sp, then startup_reset
 *   startup_reset: point mtvec at the trap entry, copy .data/.tdata from
 *                  flash, zero .tbss/.bss, set tp (picolibc's errno is
 *                  thread-local), paint the stack, call main(), then
 *                  target_exit(main's return value)
 *   trap:          print mcause/mepc/mtval; an exception exits
 *                  TARGET_EXIT_FAULT, an interrupt TARGET_EXIT_UNEXPECTED
 *                  (none is ever enabled)
 *
 * Plain C99 plus GNU attributes and two naked asm blocks. Link with
 * -nostartfiles and virt.ld beside this file, which defines the symbols
 * below and puts .text.start first, at the address the hart starts from.
 */
#include <stdint.h>
#include <string.h>

#include "target.h"

extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __tls_base__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_limit__[];
extern uint32_t __stack_top__[];

int main(void);

void _start(void) __attribute__((naked, noreturn, section(".text.start")));
void startup_reset(void) __attribute__((noreturn, used));
void startup_trap_entry(void) __attribute__((naked, noreturn, aligned(4)));
void startup_trap_report(void) __attribute__((noreturn, used));

#define STACK_PAINT 0x57AC57ACu

void _start(void)
{
    /* gp must be set without linker relaxation (which would use gp itself). */
    __asm__ volatile(
        ".option push\n\t"
        ".option norelax\n\t"
        "la gp, __global_pointer$\n\t"
        ".option pop\n\t"
        "la sp, __stack_top__\n\t"
        "j startup_reset\n\t");
}

void startup_reset(void)
{
    uint32_t *p;
    uint32_t here;
    __asm__ volatile("csrw mtvec, %0" : : "r"((uintptr_t)startup_trap_entry)); /* direct mode */
    memcpy(__data_start__, __data_load__, (size_t)((uintptr_t)__data_end__ - (uintptr_t)__data_start__));
    memset(__bss_start__, 0, (size_t)((uintptr_t)__bss_end__ - (uintptr_t)__bss_start__));
    /* local-exec TLS on RISC-V: tp points at the start of the TLS block */
    __asm__ volatile("mv tp, %0" : : "r"(__tls_base__));
    /* Paint the stack below this frame, for startup_stack_used(). */
    here = (uint32_t)(uintptr_t)&here;
    for (p = __stack_limit__; (uint32_t)(uintptr_t)p + 64u < here; ++p) {
        *p = STACK_PAINT;
    }
    target_exit(main());
}

/* Bytes of stack used so far (high-water mark since reset). */
unsigned long startup_stack_used(void)
{
    const uint32_t *p = __stack_limit__;
    while (p < __stack_top__ && *p == STACK_PAINT) {
        ++p;
    }
    return (unsigned long)((uintptr_t)__stack_top__ - (uintptr_t)p);
}

unsigned long startup_stack_size(void)
{
    return (unsigned long)((uintptr_t)__stack_top__ - (uintptr_t)__stack_limit__);
}

/* A fresh stack (the old one may have overflowed), then the report in C. */
void startup_trap_entry(void)
{
    __asm__ volatile(
        "la sp, __stack_top__\n\t"
        "j startup_trap_report\n\t");
}

void startup_trap_report(void)
{
    uint32_t cause, epc, tval;
    __asm__ volatile("csrr %0, mcause" : "=r"(cause));
    __asm__ volatile("csrr %0, mepc" : "=r"(epc));
    __asm__ volatile("csrr %0, mtval" : "=r"(tval));
    if (cause & 0x80000000u) {
        console_printf("unexpected interrupt %lu\n", (unsigned long)(cause & 0x7FFFFFFFu));
        target_exit(TARGET_EXIT_UNEXPECTED);
    }
    /* 2 = illegal instruction (e.g. cpop on a core without Zbb), 5/7 = access fault */
    console_printf("trap: mcause=%lu mepc=0x%lx mtval=0x%lx\n", (unsigned long)cause, (unsigned long)epc,
                   (unsigned long)tval);
    target_exit(TARGET_EXIT_FAULT);
}
