/*
 * bnn_opt_mcu.h -- XNOR/popcount micro-kernels for 32-bit cores without a
 * population-count instruction (Cortex-M0/M0+/M3/M4/M7, RISC-V without Zbb):
 * carry-save accumulation, register blocking over output channels, unrolled.
 * Walk: bnn_opt_mcu_walk.h; maths and layout: bnn_layer.h; the core's
 * header (bnn_opt_cortexm.h, bnn_opt_riscv.h) sets the blocking and includes
 * this one.
 *
 * A popcount costs 11-16 instructions on these cores (SWAR: bnn_popcount),
 * most of it spent summing bits that the next word's count will be added to
 * anyway. Here the sums of a run of words stay wide until the end:
 *
 *   carry-save adder  three words a, b, c of one output channel become
 *                     ones = a ^ b ^ c and twos = majority(a, b, c), so that
 *                     pc(a) + pc(b) + pc(c) = pc(ones) + 2 pc(twos): 5 logic
 *                     instructions instead of one popcount;
 *   nibble counts     pc4(v): the popcount of every 4-bit field of v (two SWAR
 *                     steps), so pc4(ones) + 2 pc4(twos) <= 4 + 8 = 12 per
 *                     nibble still fits;
 *   byte counts       the two nibbles of each byte added (<= 24 per triple),
 *                     summed over up to 10 triples (<= 240) in one word;
 *   one final sum     of the 4 bytes (USADA8 on cores with the DSP extension,
 *                     a multiply otherwise) per chunk of at most 30 words.
 * About 7.7 instructions per word and channel (plus loads) instead of 13-18.
 *
 * Register blocking: one pass reads BNN_CSA_LANES output channels' kernel
 * words beside each input word it loads (the 16 channels of a block are side
 * by side in the kernel, bnn_layer.h), so an input word is loaded 16 /
 * BNN_CSA_LANES times per block instead of 16 times. Tail words of a run
 * (run % 3 of them) take the nibble counts directly.
 *
 * Exact: the sums are the same integers the reference computes.
 */
#ifndef BNN_OPT_MCU_H
#define BNN_OPT_MCU_H

#include <stddef.h>
#include "bnn_layer.h"

#ifndef BNN_CSA_MASKS_IN_REGISTERS
#define BNN_CSA_MASKS_IN_REGISTERS 1
#endif

#ifndef BNN_CSA_GROUP
#define BNN_CSA_GROUP 1 /* lanes computed side by side (a compiler barrier after each group) */
#endif

#if defined(__GNUC__)
#define BNN_CSA_LANE_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define BNN_CSA_LANE_BARRIER() ((void)0)
#endif

#if defined(__GNUC__)
#define BNN_CSA_INLINE static inline __attribute__((always_inline))
#define BNN_CSA_UNROLL _Pragma("GCC unroll 16")
#else
#define BNN_CSA_INLINE static inline
#define BNN_CSA_UNROLL
#endif

#if defined(__ARM_FEATURE_SIMD32) && defined(__GNUC__)
#include <arm_acle.h>
/* acc + the 4 bytes of v: one USADA8 (sum of absolute differences with 0) */
BNN_CSA_INLINE int32_t bnn_csa_add_bytes(int32_t acc, uint32_t v)
{
    return (int32_t)__usada8(v, 0u, (uint32_t)acc);
}
#else
BNN_CSA_INLINE int32_t bnn_csa_add_bytes(int32_t acc, uint32_t v)
{
    v = (v & 0x00FF00FFu) + ((v >> 8) & 0x00FF00FFu); /* two halfwords, each <= 2 * 255 */
    return acc + (int32_t)((v + (v << 16)) >> 16);     /* their sum, in the upper halfword */
}
#endif

/*
 * The SWAR masks. Two ways to spend the fewest instructions on them:
 *  - Thumb-2 encodes all of them as immediates and shifts the second operand
 *    of an ADD or SUB for free: v - ((v & 0xAAAAAAAA) >> 1) is AND + SUB, no
 *    register held. Compilers rewrite (v & 0xAA..) >> 1 as (v >> 1) & 0x55..,
 *    which costs a separate shift, so the masked value is made opaque to the
 *    compiler (an empty asm statement) between the AND and the shift.
 *  - Cores without such immediates keep the masks in registers (made opaque
 *    the same way, or the compiler reloads them before every use).
 */
#if defined(__GNUC__) && defined(__thumb2__)
#define BNN_CSA_IMMEDIATE_MASKS 1
#define BNN_CSA_OPAQUE(v) __asm__("" : "+r"(v))
#elif defined(__GNUC__)
#define BNN_CSA_IMMEDIATE_MASKS 0
#define BNN_CSA_OPAQUE(v) __asm__("" : "+r"(v))
#else
#define BNN_CSA_IMMEDIATE_MASKS 0
#define BNN_CSA_OPAQUE(v) ((void)0)
#endif

struct bnn_csa_masks {
    uint32_t m1, m2, m4; /* 0x55555555, 0x33333333, 0x0F0F0F0F */
};

BNN_CSA_INLINE struct bnn_csa_masks bnn_csa_masks(void)
{
    struct bnn_csa_masks m;
    m.m1 = 0x55555555u;
    m.m2 = 0x33333333u;
    m.m4 = 0x0F0F0F0Fu;
#if !BNN_CSA_IMMEDIATE_MASKS && BNN_CSA_MASKS_IN_REGISTERS
    BNN_CSA_OPAQUE(m.m1);
    BNN_CSA_OPAQUE(m.m2);
    BNN_CSA_OPAQUE(m.m4);
#endif
    return m;
}

#if BNN_CSA_IMMEDIATE_MASKS
/* pc4(v): the number of 1 bits in each 4-bit field of v (each <= 4). */
BNN_CSA_INLINE uint32_t bnn_csa_nibbles(uint32_t v, const struct bnn_csa_masks *m)
{
    uint32_t t = v & 0xAAAAAAAAu;
    (void)m;
    BNN_CSA_OPAQUE(t);
    v = v - (t >> 1);
    t = v & 0xCCCCCCCCu;
    BNN_CSA_OPAQUE(t);
    return (v & 0x33333333u) + (t >> 2);
}

/* Nibble counts (each <= 15) as byte counts: per byte, the sum of its two nibbles. */
BNN_CSA_INLINE uint32_t bnn_csa_bytes(uint32_t n, const struct bnn_csa_masks *m)
{
    uint32_t t = n & 0xF0F0F0F0u;
    (void)m;
    BNN_CSA_OPAQUE(t);
    return (n & 0x0F0F0F0Fu) + (t >> 4);
}
#else
/* pc4(v): the number of 1 bits in each 4-bit field of v (each <= 4). */
BNN_CSA_INLINE uint32_t bnn_csa_nibbles(uint32_t v, const struct bnn_csa_masks *m)
{
    v = v - ((v >> 1) & m->m1);
    return (v & m->m2) + ((v >> 2) & m->m2);
}

/* Nibble counts (each <= 15) as byte counts: per byte, the sum of its two nibbles. */
BNN_CSA_INLINE uint32_t bnn_csa_bytes(uint32_t n, const struct bnn_csa_masks *m)
{
    return (n & m->m4) + ((n >> 4) & m->m4);
}
#endif

/* Byte counts (each <= 24) of pc(a) + pc(b) + pc(c) through one carry-save adder. */
BNN_CSA_INLINE uint32_t bnn_csa_triple(uint32_t a, uint32_t b, uint32_t c, const struct bnn_csa_masks *m)
{
    const uint32_t u = a ^ b;
    const uint32_t ones = u ^ c, twos = (a & b) | (u & c);
    return bnn_csa_bytes(bnn_csa_nibbles(ones, m) + 2u * bnn_csa_nibbles(twos, m), m);
}

/* Byte counts (each <= 16) of pc(a) + pc(b): the carry-save adder with c = 0. */
BNN_CSA_INLINE uint32_t bnn_csa_pair(uint32_t a, uint32_t b, const struct bnn_csa_masks *m)
{
    return bnn_csa_bytes(bnn_csa_nibbles(a ^ b, m) + 2u * bnn_csa_nibbles(a & b, m), m);
}

/* The 16 lanes' byte counts into their sums (or, fresh, as their sums), before any byte could pass 255;
 * `again`: the byte counts start over (not after the pixel's last words). */
BNN_CSA_INLINE void bnn_csa_flush(uint32_t bytes[BNN_BLOCK], int32_t acc[BNN_BLOCK], int fresh, int again)
{
    int l;
    if (fresh) {
        BNN_CSA_UNROLL
        for (l = 0; l < BNN_BLOCK; ++l) acc[l] = bnn_csa_add_bytes(0, bytes[l]);
    } else {
        BNN_CSA_UNROLL
        for (l = 0; l < BNN_BLOCK; ++l) acc[l] = bnn_csa_add_bytes(acc[l], bytes[l]);
    }
    if (again) {
        BNN_CSA_UNROLL
        for (l = 0; l < BNN_BLOCK; ++l) bytes[l] = 0;
    }
}

/*
 * What the 16 lanes of one pixel work on: the SWAR masks (for cores that read
 * them from memory), the three input words of a triple, the lanes' byte counts.
 */
struct bnn_csa_frame {
    uint32_t mask[3]; /* 0x55555555, 0x33333333, 0x0F0F0F0F */
    uint32_t x[3];
    uint32_t bytes[BNN_BLOCK];
};

#ifndef BNN_CSA_HAVE_TRIPLE16
/* bytes[l] += byte counts of pc(x0 ^ k0[l]) + pc(x1 ^ k1[l]) + pc(x2 ^ k2[l]) for the 16 lanes. */
BNN_CSA_INLINE void bnn_csa_triple16(struct bnn_csa_frame *f, const uint32_t *k0, const uint32_t *k1,
                                     const uint32_t *k2, const struct bnn_csa_masks *m)
{
    const uint32_t x0 = f->x[0], x1 = f->x[1], x2 = f->x[2];
    int l;
    BNN_CSA_UNROLL
    for (l = 0; l < BNN_BLOCK; ++l) {
        f->bytes[l] += bnn_csa_triple(x0 ^ k0[l], x1 ^ k1[l], x2 ^ k2[l], m);
#if BNN_CSA_GROUP > 1
        if (l % BNN_CSA_GROUP != BNN_CSA_GROUP - 1) continue;
#endif
        BNN_CSA_LANE_BARRIER();
    }
}
#endif

#ifndef BNN_CSA_HAVE_TRIPLES
/*
 * n triples along a row: for r < n, bytes[l] += the byte counts of word r of
 * the three input rows x, x + x_row, x + 2 x_row against the kernel words
 * k + 16 r (+ kr_row, + 2 kr_row) of the 16 lanes. At most 10 triples
 * between flushes (each byte count <= 24 per triple, 240 in all).
 */
BNN_CSA_INLINE void bnn_csa_triples(struct bnn_csa_frame *f, const uint32_t *x, ptrdiff_t x_row, const uint32_t *k,
                                    ptrdiff_t kr_row, int n, const struct bnn_csa_masks *m)
{
    int r;
    for (r = 0; r < n; ++r, k += BNN_BLOCK) {
        f->x[0] = x[r];
        f->x[1] = x[x_row + r];
        f->x[2] = x[2 * x_row + r];
        bnn_csa_triple16(f, k, k + kr_row, k + 2 * kr_row, m);
    }
}
#endif

/*
 * One pixel: acc[l] += sum_{a < na} sum_{r < run} popcount(x[a*x_row + r] XOR k[(a*k_row + r)*16 + l])
* for the 16 lanes l (acc[l] = the sum when `fresh`). Each input word is loaded once for all 16 lanes. Words go
 * in triples: the same word of three kernel rows (a 3x3 kernel has no other
 * kind), then along the rows left over (their last one or two words in a pair
 * or alone). Byte counts are summed into acc after at most 10 steps (30 words).
 */
BNN_CSA_INLINE void bnn_csa_pixel(const uint32_t *x, ptrdiff_t x_row, const uint32_t *k, ptrdiff_t k_row, int na,
                                  int run, int fresh, const struct bnn_csa_masks *m, int32_t acc[BNN_BLOCK])
{
    const ptrdiff_t kr_row = k_row * BNN_BLOCK;
    struct bnn_csa_frame f;
    uint32_t *const bytes = f.bytes;
    int a, l, r, counted = 0; /* steps (triples, or a row's last words) in `bytes`: at most 10, <= 24 each */
    f.mask[0] = 0x55555555u;
    f.mask[1] = 0x33333333u;
    f.mask[2] = 0x0F0F0F0Fu;
    BNN_CSA_UNROLL
    for (l = 0; l < BNN_BLOCK; ++l) bytes[l] = 0;
    for (a = 0; a + 3 <= na; a += 3) { /* rows a, a+1, a+2: word r of each */
        const uint32_t *xr = x + a * x_row, *kr = k + a * kr_row;
        for (r = 0; r < run;) {
            int n = run - r;
            if (counted == 10) {
                bnn_csa_flush(bytes, acc, fresh, 1);
                counted = fresh = 0;
            }
            if (n > 10 - counted) n = 10 - counted;
            bnn_csa_triples(&f, xr + r, x_row, kr, kr_row, n, m);
            r += n;
            kr += n * BNN_BLOCK;
            counted += n;
        }
    }
    for (; a < na; ++a) { /* the rows left: along the row */
        const uint32_t *xr = x + a * x_row, *const end = xr + run;
        const uint32_t *kr = k + a * kr_row;
        for (; xr < end; xr += 3, kr += 3 * BNN_BLOCK) {
            if (counted == 10) {
                bnn_csa_flush(bytes, acc, fresh, 1);
                counted = fresh = 0;
            }
            if (end - xr >= 3) {
                f.x[0] = xr[0];
                f.x[1] = xr[1];
                f.x[2] = xr[2];
                bnn_csa_triple16(&f, kr, kr + BNN_BLOCK, kr + 2 * BNN_BLOCK, m);
            } else if (end - xr == 2) {
                const uint32_t x0 = xr[0], x1 = xr[1];
                BNN_CSA_UNROLL
                for (l = 0; l < BNN_BLOCK; ++l) {
                    bytes[l] += bnn_csa_pair(x0 ^ kr[l], x1 ^ kr[BNN_BLOCK + l], m);
                    BNN_CSA_LANE_BARRIER();
                }
            } else {
                const uint32_t x0 = xr[0];
                BNN_CSA_UNROLL
                for (l = 0; l < BNN_BLOCK; ++l) {
                    bytes[l] += bnn_csa_bytes(bnn_csa_nibbles(x0 ^ kr[l], m), m);
                    BNN_CSA_LANE_BARRIER();
                }
            }
            ++counted;
        }
    }
    bnn_csa_flush(bytes, acc, fresh, 0);
}

/*
 * The decisions of 16 lanes v against bounds lo, hi, flip (bnn_bits.h) as bit masks:
 * with below = v < lo and above = v >= hi (never both: lo <= hi), negative is
 * `above` where the lane is flipped and `below` elsewhere, zero is neither. One
 * signed compare per bound and lane, as the sign of a saturating difference
 * (QSUB on cores with the DSP extension: v - lo cannot overflow there).
 */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
BNN_CSA_INLINE uint32_t bnn_mcu_less(int32_t v, int32_t bound)
{
    return (uint32_t)__qsub(v, bound) >> 31;
}
#else
BNN_CSA_INLINE uint32_t bnn_mcu_less(int32_t v, int32_t bound)
{
    return (uint32_t)(v < bound);
}
#endif

#define BNN_HAVE_MK_DECIDE
static inline void bnn_mk_decide(const int32_t v[BNN_BLOCK], const int32_t *lo, const int32_t *hi, const uint8_t *flip,
                                 uint32_t *negative, uint32_t *zero)
{
    uint32_t below = 0, not_above = 0, flipped = 0;
    int l;
    BNN_CSA_UNROLL
    for (l = BNN_BLOCK - 1; l >= 0; --l) {
        below = below << 1 | bnn_mcu_less(v[l], lo[l]);
        not_above = not_above << 1 | bnn_mcu_less(v[l], hi[l]);
        flipped = flipped << 1 | flip[l];
    }
    *negative = (below & ~flipped) | (~not_above & flipped);
    *zero = ~below & not_above;
}

#ifndef BNN_MCU_HAVE_XOR_POPCOUNT16
/*
 * The micro-kernel of bnn_opt_mcu_walk.h: one output pixel, the 16 lanes of a block,
 * acc[l] (+)= sum_{a < na} sum_{r < run} popcount(x[a*x_row + r] XOR k[(a*k_row + r)*16 + l]),
 * acc[l] = the sum when `fresh`, added to it otherwise.
 */
static inline void bnn_mcu_xor_popcount16(const uint32_t *x, ptrdiff_t x_row, const uint32_t *k, ptrdiff_t k_row,
                                          int na, int run, int fresh, int32_t acc[BNN_BLOCK])
{
    const struct bnn_csa_masks m = bnn_csa_masks();
    bnn_csa_pixel(x, x_row, k, k_row, na, run, fresh, &m, acc);
}
#endif

#endif /* BNN_OPT_MCU_H */
