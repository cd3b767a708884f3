/*
 * bnn_opt_cortexm.h -- binary layers on Cortex-M (bnn_opt_mcu_walk.h walks
 * them one output pixel at a time; bnn_opt_mcu.h counts bits with carry-save
 * adders). Armv6-M (M0/M0+) and Armv7-M (M3/M4/M7) replace the innermost
 * steps of bnn_opt_mcu.h with assembly, where the compiler's register
 * allocation costs the most; -DBNN_CSA_C_ONLY keeps the C. The assembly is
 * checked bit for bit against the reference kernels on both cores under
 * QEMU (tests/test_mcu_kernels.py).
 */
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
 * on exactly eight registers: the three kernel rows (k, k1, k2: the lane's
 * word at an immediate offset), the frame (masks, the three input words, the
 * byte counts) and four working registers. 42 instructions a lane where the
 * compiler spends about 80 (it keeps the masks in registers).
 */
#define BNN_M0_LANE(lane)                                                                                 \
    "ldr  %[a], [%[k], #" #lane "-24]\n\t" /* the lane's kernel word in the three rows */              \
    "ldr  %[b], [%[k1], #" #lane "-24]\n\t"                                                             \
    "ldr  %[c], [%[k2], #" #lane "-24]\n\t"                                                             \
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
    (void)m;
    /* GCC assembles inline Thumb-1 code in divided syntax; these lanes are written in unified syntax */
    __asm__ volatile(".syntax unified\n\t" BNN_M0_LANE(24) BNN_M0_LANE(28) BNN_M0_LANE(32) BNN_M0_LANE(36) BNN_M0_LANE(40) BNN_M0_LANE(44)
                     BNN_M0_LANE(48) BNN_M0_LANE(52) BNN_M0_LANE(56) BNN_M0_LANE(60) BNN_M0_LANE(64) BNN_M0_LANE(68)
                     BNN_M0_LANE(72) BNN_M0_LANE(76) BNN_M0_LANE(80) BNN_M0_LANE(84) ".syntax divided\n\t"
                     : [a] "=&l"(a), [b] "=&l"(b), [c] "=&l"(c), [t] "=&l"(t)
                     : [f] "l"(f), [k] "l"(k0), [k1] "l"(k1), [k2] "l"(k2)
                     : "memory", "cc");
}
#endif

#if (defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__)) && defined(__thumb2__) && defined(__GNUC__) && \
    !defined(BNN_CSA_C_ONLY)
#include <stddef.h>
#include <stdint.h>
#define BNN_CSA_HAVE_TRIPLES
struct bnn_csa_frame;
struct bnn_csa_masks;
/*
 * Armv7-M (Thumb-2): bnn_csa_triples as one loop in assembly. A lane is the
 * lane of bnn_csa_triple (bnn_opt_mcu.h) in 28 instructions: 3 loads, 3 XORs,
 * the carry-save adder (5), two nibble counts (5 each: the masks are
 * immediates, the shifts ride on the second operand), ones + 2 twos (1), the
 * byte counts (3), the lane's byte sums in the frame (3). The compiler spends
 * as many on the lanes but about 30 more per triple on the input words and
 * pointers it spills around them; here they stay in registers.
 */
#define BNN_M4_LANE(lane)                                                                                 \
    "ldr  %[b], [%[k], %[k1]]\n\t"                                                                      \
    "ldr  %[c], [%[k], %[k2]]\n\t"                                                                      \
    "ldr  %[a], [%[k]], #4\n\t"                                                                         \
    "eor  %[a], %[a], %[x0]\n\t"                                                                        \
    "eor  %[b], %[b], %[x1]\n\t"                                                                        \
    "eor  %[c], %[c], %[x2]\n\t"                                                                        \
    "eor  %[t], %[a], %[b]\n\t" /* carry-save adder: t = a ^ b ^ c (ones), a = majority (twos) */      \
    "and  %[a], %[a], %[b]\n\t"                                                                         \
    "and  %[u], %[t], %[c]\n\t"                                                                         \
    "eor  %[t], %[t], %[c]\n\t"                                                                         \
    "orr  %[a], %[a], %[u]\n\t"                                                                         \
    "and  %[u], %[t], #0xAAAAAAAA\n\t" /* 2-bit counts */                                              \
    "sub  %[t], %[t], %[u], lsr #1\n\t"                                                                 \
    "and  %[u], %[a], #0xAAAAAAAA\n\t"                                                                  \
    "sub  %[a], %[a], %[u], lsr #1\n\t"                                                                 \
    "and  %[u], %[t], #0xCCCCCCCC\n\t" /* 4-bit counts */                                              \
    "and  %[t], %[t], #0x33333333\n\t"                                                                  \
    "add  %[t], %[t], %[u], lsr #2\n\t"                                                                 \
    "and  %[u], %[a], #0xCCCCCCCC\n\t"                                                                  \
    "and  %[a], %[a], #0x33333333\n\t"                                                                  \
    "add  %[a], %[a], %[u], lsr #2\n\t"                                                                 \
    "add  %[t], %[t], %[a], lsl #1\n\t" /* ones + 2 twos */                                            \
    "and  %[u], %[t], #0xF0F0F0F0\n\t" /* 8-bit counts */                                              \
    "and  %[t], %[t], #0x0F0F0F0F\n\t"                                                                  \
    "add  %[t], %[t], %[u], lsr #4\n\t"                                                                 \
    "ldr  %[u], [%[f], #" #lane "]\n\t"                                                                 \
    "add  %[u], %[u], %[t]\n\t"                                                                         \
    "str  %[u], [%[f], #" #lane "]\n\t"

static inline __attribute__((always_inline)) void bnn_csa_triples(struct bnn_csa_frame *f, const uint32_t *x,
                                                                  ptrdiff_t x_row, const uint32_t *k, ptrdiff_t kr_row,
                                                                  int n, const struct bnn_csa_masks *m)
{
    uint32_t a, b, c, t, u, x0, x1, x2;
    const uint32_t *const k_end = k + (ptrdiff_t)n * 16; /* the lanes move k on by 16 words a triple */
    const int32_t k1 = (int32_t)(kr_row * 4), k2 = (int32_t)(kr_row * 8), xr = (int32_t)(x_row * 4);
    (void)m;
    if (n <= 0) return;
    __asm__ volatile("1:\n\t"
                     "ldr  %[x1], [%[x], %[xr]]\n\t" /* word r of the three input rows */
                     "ldr  %[x2], [%[x], %[xr], lsl #1]\n\t"
                     "ldr  %[x0], [%[x]], #4\n\t"
                     BNN_M4_LANE(24) BNN_M4_LANE(28) BNN_M4_LANE(32) BNN_M4_LANE(36) BNN_M4_LANE(40) BNN_M4_LANE(44)
                     BNN_M4_LANE(48) BNN_M4_LANE(52) BNN_M4_LANE(56) BNN_M4_LANE(60) BNN_M4_LANE(64) BNN_M4_LANE(68)
                     BNN_M4_LANE(72) BNN_M4_LANE(76) BNN_M4_LANE(80) BNN_M4_LANE(84)
                     "ldr  %[t], %[end]\n\t"
                     "cmp  %[k], %[t]\n\t"
                     "bne  1b\n\t"
                     : [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [t] "=&r"(t), [u] "=&r"(u), [x0] "=&r"(x0),
                       [x1] "=&r"(x1), [x2] "=&r"(x2), [k] "+r"(k), [x] "+r"(x)
                     : [f] "r"(f), [k1] "r"(k1), [k2] "r"(k2), [xr] "r"(xr), [end] "m"(k_end)
                     : "memory", "cc");
}
#endif

#include "bnn_opt_mcu.h"

#endif
