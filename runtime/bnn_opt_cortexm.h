#ifndef BNN_OPT_CORTEXM_H
#define BNN_OPT_CORTEXM_H
#define BNN_MCU_KERNELS
#if defined(__ARM_ARCH_6M__)
#define BNN_KERNELS "cortex-m0"
#ifndef BNN_CSA_GROUP
#define BNN_CSA_GROUP 1
#endif

#else
#define BNN_KERNELS "cortex-m4"
#ifndef BNN_CSA_GROUP
#define BNN_CSA_GROUP 2
#endif
#endif
#if defined(__ARM_ARCH_6M__) && defined(__GNUC__) && !defined(BNN_CSA_C_ONLY)
#include <stdint.h>
#define BNN_CSA_HAVE_TRIPLE16
struct bnn_csa_frame;
struct bnn_csa_masks;
/*
 * Armv6-M (Thumb-1): eight registers take part in logic, every operation has
 * two operands. The 16 lanes of a triple in assembly, one lane after another
 * on exactly eight registers: the kernel pointer (k, moving one lane per
 * step, rows k1 and k2 bytes further), the frame (masks, the three input
 * words, the byte counts) and four working registers. 43 instructions a lane
 * where the compiler spends about 80 (it keeps the masks in registers).
 */
#define BNN_M0_LANE(lane)                                                                                 \
    "ldr  %[a], [%[k]]\n\t"                                                                             \
    "ldr  %[b], [%[k], %[k1]]\n\t"                                                                      \
    "ldr  %[c], [%[k], %[k2]]\n\t"                                                                      \
    "adds %[k], #4\n\t"                                                                                 \
    "ldr  %[t], [%[f], #12]\n\t"                                                                        \
    "eors %[a], %[t]\n\t"                                                                               \
    "ldr  %[t], [%[f], #16]\n\t"                                                                        \
    "eors %[b], %[t]\n\t"                                                                               \
    "ldr  %[t], [%[f], #20]\n\t"                                                                        \
    "eors %[c], %[t]\n\t"                                                                               \
    "movs %[t], %[a]\n\t"     /* carry-save adder: t = a ^ b ^ c (ones), a = majority (twos) */       \
    "eors %[t], %[b]\n\t"                                                                               \
    "ands %[a], %[b]\n\t"                                                                               \
    "movs %[b], %[t]\n\t"                                                                               \
    "ands %[b], %[c]\n\t"                                                                               \
    "orrs %[a], %[b]\n\t"                                                                               \
    "eors %[t], %[c]\n\t"                                                                               \
    "ldr  %[c], [%[f], #0]\n\t" /* 2-bit counts of t and a */                                         \
    "lsrs %[b], %[t], #1\n\t"                                                                           \
    "ands %[b], %[c]\n\t"                                                                               \
    "subs %[t], %[t], %[b]\n\t"                                                                         \
    "lsrs %[b], %[a], #1\n\t"                                                                           \
    "ands %[b], %[c]\n\t"                                                                               \
    "subs %[a], %[a], %[b]\n\t"                                                                         \
    "ldr  %[c], [%[f], #4]\n\t" /* 4-bit counts */                                                    \
    "lsrs %[b], %[t], #2\n\t"                                                                           \
    "ands %[b], %[c]\n\t"                                                                               \
    "ands %[t], %[c]\n\t"                                                                               \
    "adds %[t], %[t], %[b]\n\t"                                                                         \
    "lsrs %[b], %[a], #2\n\t"                                                                           \
    "ands %[b], %[c]\n\t"                                                                               \
    "ands %[a], %[c]\n\t"                                                                               \
    "adds %[a], %[a], %[b]\n\t"                                                                         \
    "adds %[t], %[t], %[a]\n\t" /* ones + 2 twos */                                                   \
    "adds %[t], %[t], %[a]\n\t"                                                                         \
    "ldr  %[c], [%[f], #8]\n\t" /* 8-bit counts */                                                    \
    "lsrs %[b], %[t], #4\n\t"                                                                           \
    "ands %[b], %[c]\n\t"                                                                               \
    "ands %[t], %[c]\n\t"                                                                               \
    "adds %[t], %[t], %[b]\n\t"                                                                         \
    "ldr  %[b], [%[f], #" #lane "]\n\t"                                                                  \
    "adds %[b], %[b], %[t]\n\t"                                                                         \
    "str  %[b], [%[f], #" #lane "]\n\t"

static inline __attribute__((always_inline)) void bnn_csa_triple16(struct bnn_csa_frame *f, const uint32_t *k0,
                                                                   const uint32_t *k1, const uint32_t *k2,
                                                                   const struct bnn_csa_masks *m)
{
    uint32_t a, b, c, t;
    const uint32_t *k = k0;
    const int32_t r1 = (int32_t)((const char *)k1 - (const char *)k0), r2 = (int32_t)((const char *)k2 - (const char *)k0);
    (void)m;
    /* GCC assembles inline Thumb-1 code in divided syntax; these lanes are written in unified syntax */
    __asm__ volatile(".syntax unified\n\t" BNN_M0_LANE(24) BNN_M0_LANE(28) BNN_M0_LANE(32) BNN_M0_LANE(36) BNN_M0_LANE(40) BNN_M0_LANE(44)
                     BNN_M0_LANE(48) BNN_M0_LANE(52) BNN_M0_LANE(56) BNN_M0_LANE(60) BNN_M0_LANE(64) BNN_M0_LANE(68)
                     BNN_M0_LANE(72) BNN_M0_LANE(76) BNN_M0_LANE(80) BNN_M0_LANE(84) ".syntax divided\n\t"
                     : [a] "=&l"(a), [b] "=&l"(b), [c] "=&l"(c), [t] "=&l"(t), [k] "+l"(k)
                     : [f] "l"(f), [k1] "l"(r1), [k2] "l"(r2)
                     : "memory", "cc");
}
#endif

#include "bnn_opt_mcu.h"

#endif
