/*
 * startup.c -- minimal Cortex-M startup for bnncompile test programs under
 * QEMU (mps2-an386 / Cortex-M4, microbit / Cortex-M0).
 *
 *   vector table (16 system entries; no IRQ is ever enabled)
 *   Reset_Handler: enable the FPU (if built for one), copy .data from flash,
 *                  zero .bss, paint the stack, call main(), then
 *                  target_exit(main's return value)
 *   HardFault:     print the stacked pc/lr/xpsr, exit TARGET_EXIT_FAULT
 *   anything else: exit TARGET_EXIT_UNEXPECTED
 *
 * Plain C99 plus GNU attributes and one naked Thumb-1 asm block, so the
 * same file builds for ARMv6-M (M0) and ARMv7E-M (M4). Link with
 * -nostartfiles and one of the linker scripts beside this file, which
 * define the symbols below.
 */
#include <stdint.h>
#include <string.h>

#include "target.h"

extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_limit__[];
extern uint32_t __stack_top__[];

int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void HardFault_Handler(void) __attribute__((naked, noreturn));
void Default_Handler(void) __attribute__((noreturn));
void startup_hardfault_report(const uint32_t *frame, uint32_t exc_return) __attribute__((used, noreturn));

#define STACK_PAINT 0x57AC57ACu

struct vector_table {
    uint32_t *initial_sp;
    void (*handlers[15])(void);
};

__attribute__((section(".vectors"), used)) const struct vector_table startup_vectors = {
    __stack_top__,
    {
        Reset_Handler,     /*  1 reset */
        Default_Handler,   /*  2 NMI */
        HardFault_Handler, /*  3 HardFault */
        Default_Handler,   /*  4 MemManage (v7-M) */
        Default_Handler,   /*  5 BusFault (v7-M) */
        Default_Handler,   /*  6 UsageFault (v7-M) */
        0, 0, 0, 0,        /*  7-10 reserved */
        Default_Handler,   /* 11 SVCall */
        Default_Handler,   /* 12 DebugMonitor (v7-M) */
        0,                 /* 13 reserved */
        Default_Handler,   /* 14 PendSV */
        Default_Handler,   /* 15 SysTick */
    },
};

void Reset_Handler(void)
{
    uint32_t *p;
    uint32_t here;
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 before any FP instruction. */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    memcpy(__data_start__, __data_load__,
           (size_t)((uintptr_t)__data_end__ - (uintptr_t)__data_start__));
    memset(__bss_start__, 0, (size_t)((uintptr_t)__bss_end__ - (uintptr_t)__bss_start__));
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

/* Find the exception frame (MSP or PSP, by EXC_RETURN bit 2); Thumb-1 only. */
void HardFault_Handler(void)
{
    __asm__ volatile(
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "bne 1f\n\t"
        "mrs r0, msp\n\t"
        "b 2f\n"
        "1:\n\t"
        "mrs r0, psp\n"
        "2:\n\t"
        "ldr r2, =__stack_top__\n\t" /* a fresh stack: the old one may have overflowed */
        "mov sp, r2\n\t"
        "bl startup_hardfault_report\n\t"
        ".ltorg\n\t");
}

void startup_hardfault_report(const uint32_t *frame, uint32_t exc_return)
{
    /* frame: r0 r1 r2 r3 r12 lr pc xpsr -- unless the stack pointer had left RAM */
    if ((uintptr_t)frame < (uintptr_t)__data_start__ || (uintptr_t)(frame + 8) > (uintptr_t)__stack_top__ ||
        ((uintptr_t)frame & 3u) != 0u) {
        console_printf("HardFault: sp=0x%lx is outside RAM (stack overflow?) exc_return=0x%lx\n",
                        (unsigned long)(uintptr_t)frame, (unsigned long)exc_return);
        target_exit(TARGET_EXIT_FAULT);
    }
    if ((uintptr_t)frame < (uintptr_t)__stack_limit__) {
        console_write("HardFault: the stack had grown past __stack_limit__ (overflow)\n");
    }
    console_printf("HardFault: pc=0x%lx lr=0x%lx xpsr=0x%lx exc_return=0x%lx\n", (unsigned long)frame[6],
                    (unsigned long)frame[5], (unsigned long)frame[7], (unsigned long)exc_return);
    target_exit(TARGET_EXIT_FAULT);
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    console_printf("unexpected exception %lu\n", (unsigned long)(ipsr & 0x1FFu));
    target_exit(TARGET_EXIT_UNEXPECTED);
}
