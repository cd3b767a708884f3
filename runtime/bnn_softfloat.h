/*
 * bnn_softfloat.h -- the output chain's float ops in integer arithmetic, for
 * cores without a floating-point unit (Armv6-M, Armv7-M built without an FPU,
 * RISC-V without the F extension), bit for bit what the C float ops give.
 *
 * On those cores every float op of a layer's output chain (bnn_layer.h: v =
 * (float)sum, then e.g. a batchnorm v*scale + shift) is a call into the
 * compiler's generic soft-float library: about 250 instructions per output
 * for a batchnorm on a Cortex-M0. Here the common case -- normal numbers in,
 * a normal number out -- takes about 150: the ops work on the unpacked number
 * (sign, exponent, 24-bit significand) in 32-bit integers, and the value
 * stays unpacked between (float)sum, the multiply and the add. Everything else
 * (a zero where the fast path cannot take it, subnormals, infinities, NaNs,
 * overflow, a sum of 2^16 or more in the multiply) takes the C float op
 * itself, so the result is always the C op's. (Where two NaNs meet in one op,
 * C does not fix which one comes out: the compiler may swap the operands.)
 *
 * A binary32 value here: x = (-1)^sign * m * 2^(e - 150), m in [2^23, 2^24)
 * the significand with its hidden bit, e in 1..254 the biased exponent. The
 * routines carry 7 more bits below m, S = m << 7 in [2^30, 2^31), so
 * x = S * 2^(e - 157). Rounding to nearest, ties to even, from such an S:
 * the 7 low bits are the rest r; round up when r > 0x40, or r == 0x40 and m
 * is odd. Bits shifted out below S are OR-ed into bit 0 ("sticky"): S then
 * is odd whenever the exact value is not S, the exact value lies strictly
 * between S - 1 and S + 1, and every rounding boundary (a multiple of 2^6, or
 * of 2^5 after one left shift) is even, so the exact value and S round alike.
 *
 *   product     m_x * m_y in [2^46, 2^48): 16-bit halves, four 32-bit
 *               multiplies (Armv6-M has no 32x32->64 multiply), kept as its
 *               top 31 or 32 bits plus sticky; one right shift normalises it.
 *               A sum n < 2^16 times m_s: n normalised first (a table of
 *               leading zeros), then two multiplies.
 *   (float)n    exact below 2^24: n shifted left into [2^30, 2^31) by a
 *               binary search of 5 steps (Armv6-M has no count-leading-zeros).
 *   sum         the smaller operand shifted right by the exponent difference
 *               (sticky), then added or subtracted. An effective subtraction
 *               with exponents 2 or more apart loses at most one leading bit;
 *               with exponents 0 or 1 apart it is exact (S has 7 zero bits to
 *               shift into) and the binary search normalises it. x - x = +0.
 *
 * Used by the chain of the fast kernels on those cores (bnn_mk_chain_sums,
 * selected below); the reference kernels keep the plain C float ops
 * (bnn_float_op_apply), the readable oracle, and tests/test_softfloat.py
 * checks these routines against the host's hardware float and the cores'
 * soft-float library, bit for bit.
 * -DBNN_SOFT_FLOAT_CHAIN forces them on (host tests), -DBNN_HARD_FLOAT_CHAIN off.
 */
#ifndef BNN_SOFTFLOAT_H
#define BNN_SOFTFLOAT_H

#if !defined(BNN_SOFT_FLOAT_CHAIN) && !defined(BNN_HARD_FLOAT_CHAIN)
#if (defined(__arm__) && !defined(__ARM_FP)) || (defined(__riscv) && !defined(__riscv_flen))
#define BNN_SOFT_FLOAT_CHAIN
#endif
#endif

#if defined(BNN_SOFT_FLOAT_CHAIN) && !defined(BNN_HARD_FLOAT_CHAIN)
#include <stdint.h>
#include <string.h>
#include "bnn_layer.h"

#if defined(__GNUC__)
#define BNN_SF_INLINE static inline __attribute__((always_inline))
#define BNN_SF_NOINLINE static __attribute__((noinline))
#else
#define BNN_SF_INLINE static inline
#define BNN_SF_NOINLINE static
#endif

#define BNN_SF_SIGN 0x80000000u
#define BNN_SF_EXP(u) (((u) >> 23) & 0xFFu)               /* biased exponent field */
#define BNN_SF_SIG(u) (((u) & 0x7FFFFFu) | 0x800000u)     /* m of a normal number */
#define BNN_SF_NORMAL(e) ((uint32_t)(e) - 1u < 254u)       /* e in 1..254 */
#define BNN_SF_SLOW 0xFFFFFFFFu /* "not on the fast path": a NaN, which the fast path never gives */

BNN_SF_INLINE uint32_t bnn_sf_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

#ifndef BNN_SF_SLOW_PATH_HOOK
#define BNN_SF_SLOW_PATH_HOOK() ((void)0) /* tests count the values that miss the fast path */
#endif

/* The result r of the C float op, where the fast path does not apply. */
BNN_SF_INLINE uint32_t bnn_sf_slow(float r)
{
    BNN_SF_SLOW_PATH_HOOK();
    return bnn_sf_bits(r);
}

BNN_SF_INLINE float bnn_sf_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The leading zero bits of an 8-bit value (the cores have no count-leading-zeros instruction). */
static const uint8_t bnn_sf_zeros8[256] = {
#define BNN_SF_Z4(z) z, z, z, z
#define BNN_SF_Z16(z) BNN_SF_Z4(z), BNN_SF_Z4(z), BNN_SF_Z4(z), BNN_SF_Z4(z)
    8, 7, 6, 6, BNN_SF_Z4(5), BNN_SF_Z4(4), BNN_SF_Z4(4),                           /* 0 .. 15 */
    BNN_SF_Z16(3), BNN_SF_Z16(2), BNN_SF_Z16(2),                                     /* 16 .. 63 */
    BNN_SF_Z16(1), BNN_SF_Z16(1), BNN_SF_Z16(1), BNN_SF_Z16(1),                      /* 64 .. 127 */
    BNN_SF_Z16(0), BNN_SF_Z16(0), BNN_SF_Z16(0), BNN_SF_Z16(0), BNN_SF_Z16(0), BNN_SF_Z16(0), BNN_SF_Z16(0),
    BNN_SF_Z16(0), /* 128 .. 255 */
#undef BNN_SF_Z4
#undef BNN_SF_Z16
};

/* s (nonzero, below 2^31) shifted left into [2^30, 2^31); *e goes down by the shift. */
BNN_SF_INLINE uint32_t bnn_sf_normalize(uint32_t s, int32_t *e)
{
    if (s < 1u << 15) { s <<= 16; *e -= 16; }
    if (s < 1u << 23) { s <<= 8; *e -= 8; }
    if (s < 1u << 27) { s <<= 4; *e -= 4; }
    if (s < 1u << 29) { s <<= 2; *e -= 2; }
    if (s < 1u << 30) { s <<= 1; *e -= 1; }
    return s;
}

/* S in [2^30, 2^31) (sticky in bit 0) rounded to its 24-bit m: 2^24 when it carries out. */
BNN_SF_INLINE uint32_t bnn_sf_round(uint32_t s)
{
    return (s + 0x3Fu + ((s >> 7) & 1u)) >> 7; /* r + 0x3F + odd reaches 0x80: r > 0x40, or a tie and m odd */
}

/* The float (-1)^sign * S * 2^(e - 157), rounded; e in 1..254. A carry out of m
 * raises the exponent field (to infinity from e = 254: IEEE's overflow). */
BNN_SF_INLINE uint32_t bnn_sf_round_pack(uint32_t sign, int32_t e, uint32_t s)
{
    return sign + ((uint32_t)(e - 1) << 23) + bnn_sf_round(s); /* m's hidden bit adds the last 1 to e */
}

/*
 * S of the product of significands mx * my (24 bits each), and *e raised by 1
 * if it needed the extra shift: P = mx * my in [2^46, 2^48) from 16-bit halves
 * (mx = x1 2^16 + x0, x1 < 2^8), P >> 16 = x1 y1 2^16 + (x1 y0 + x0 y1) + (x0 y0 >> 16)
 * fits 32 bits; x = S 2^(e - 157) with e = ex + ey - 127 (+1).
 */
BNN_SF_INLINE uint32_t bnn_sf_mul_sig(uint32_t mx, uint32_t my, int32_t *e)
{
    const uint32_t x1 = mx >> 16, x0 = mx & 0xFFFFu, y1 = my >> 16, y0 = my & 0xFFFFu;
    const uint32_t low = x0 * y0;
    uint32_t s = (x1 * y1 << 16) + x1 * y0 + x0 * y1 + (low >> 16), sticky = low & 0xFFFFu;
    if (s >= 1u << 31) {
        sticky |= s & 1u;
        s >>= 1;
        *e += 1;
    }
    return s | (sticky != 0);
}

/*
 * The sum of |x| >= |y| (y's exponent d below x's), unpacked: (-1)^sign
 * (mx + (same ? my : -my) 2^-d) 2^(ex - 150), rounded; BNN_SF_SLOW when it
 * is not a normal number or zero.
 */
BNN_SF_INLINE uint32_t bnn_sf_add_ordered(uint32_t sign, int32_t ex, uint32_t mx, int same, int32_t d, uint32_t my)
{
    uint32_t s, t;
    mx <<= 7; /* S form: [2^30, 2^31) */
    my <<= 7;
    if (d > 31) d = 31; /* my >> 31 is 0: y only sets the sticky bit */
    t = my >> d;
    t |= (t << d) != my;
    if (same) {
        s = mx + t; /* < 2^32 */
        if (s >> 31) {
            s = (s >> 1) | (s & 1u);
            ++ex;
        }
    } else {
        s = mx - t;
        if ((s >> 30) == 0) {
            if (s >> 29) { /* one leading bit lost: always so when d >= 2 */
                s <<= 1;
                --ex;
            } else { /* d <= 1: s is exact */
                if (s == 0) return 0u; /* x - x = +0 when rounding to nearest */
                s = bnn_sf_normalize(s, &ex);
            }
        }
    }
    if (!BNN_SF_NORMAL(ex)) return BNN_SF_SLOW;
    return bnn_sf_round_pack(sign, ex, s);
}

/* x + y of two normal numbers, unpacked (sign bit, e, 24-bit m); BNN_SF_SLOW as above. */
BNN_SF_INLINE uint32_t bnn_sf_add_unpacked(uint32_t sx, int32_t ex, uint32_t mx, uint32_t sy, int32_t ey,
                                           uint32_t my)
{
    if (ex > ey || (ex == ey && mx >= my)) return bnn_sf_add_ordered(sx, ex, mx, sx == sy, ex - ey, my);
    return bnn_sf_add_ordered(sy, ey, my, sx == sy, ey - ex, mx);
}

/* x * y, as the C op gives it. */
BNN_SF_INLINE uint32_t bnn_sf_mul(uint32_t x, uint32_t y)
{
    const uint32_t ex = BNN_SF_EXP(x), ey = BNN_SF_EXP(y);
    if (BNN_SF_NORMAL(ex) && BNN_SF_NORMAL(ey)) {
        int32_t e = (int32_t)(ex + ey) - 127;
        const uint32_t s = bnn_sf_mul_sig(BNN_SF_SIG(x), BNN_SF_SIG(y), &e);
        if (BNN_SF_NORMAL(e)) return bnn_sf_round_pack((x ^ y) & BNN_SF_SIGN, e, s);
    }
    return bnn_sf_slow(bnn_sf_float(x) * bnn_sf_float(y));
}

/* (float)a, as the C conversion gives it (exact below 2^24 in magnitude, rounded above). */
BNN_SF_INLINE uint32_t bnn_sf_from_int(int32_t a)
{
    const uint32_t n = a < 0 ? 0u - (uint32_t)a : (uint32_t)a;
    uint32_t s;
    int32_t e = 157;
    if (a == 0) return 0u;
    if (n >> 31) return bnn_sf_slow((float)a); /* -2^31 */
    s = bnn_sf_normalize(n, &e); /* (before e is read) */
    return bnn_sf_round_pack((uint32_t)a & BNN_SF_SIGN, e, s);
}

/*
 * fl(fl(a) * s) unpacked into *sign, *e, *m (m rounded to 24 bits: the
 * product rounded once, as the C op rounds it), for 0 < |a| < 2^16 (a layer's
 * sums; fl(a) = a) and normal s; 0 when a is out of that range or the product
 * is not a normal number. n = |a| shifted into [2^15, 2^16) by t bits, then
 * P = n m_s in [2^38, 2^40) from two multiplies (m_s = h 2^8 + l, h < 2^16):
 * q = P >> 8 = n h + (n l >> 8) < 2^32, and a s = q 2^(e_s + 15 - t - 157).
 */
BNN_SF_INLINE int bnn_sf_int_mul_unpacked(int32_t a, uint32_t s, uint32_t *sign, int32_t *e, uint32_t *m)
{
    const uint32_t es = BNN_SF_EXP(s), ms = BNN_SF_SIG(s);
    uint32_t n = a < 0 ? 0u - (uint32_t)a : (uint32_t)a, q, below;
    int32_t ep = (int32_t)es + 15;
    if (n - 1u >= 0xFFFFu || !BNN_SF_NORMAL(es)) return 0;
    {
        const int t = (n >> 8) ? bnn_sf_zeros8[n >> 8] : 8 + bnn_sf_zeros8[n];
        n <<= t;
        ep -= t;
    }
    below = n * (ms & 0xFFu);
    q = n * (ms >> 8) + (below >> 8);
    below &= 0xFFu; /* the 8 bits below q */
    if (q >> 31) {
        below |= q & 1u;
        q >>= 1;
        ++ep;
    }
    q = bnn_sf_round(q | (below != 0));
    if (q >> 24) { /* rounded up to 2^24 */
        q >>= 1;
        ++ep;
    }
    if (!BNN_SF_NORMAL(ep)) return 0;
    *sign = ((uint32_t)a ^ s) & BNN_SF_SIGN;
    *e = ep;
    *m = q;
    return 1;
}

/*
 * fl(fl(fl(a) * s) + b) (sub: - b): (float)a, then a multiply and an add (a
 * batchnorm), two roundings as the chain does them, the product never packed.
 */
BNN_SF_INLINE uint32_t bnn_sf_int_mul_add(int32_t a, uint32_t s, uint32_t b, int sub)
{
    const uint32_t eb = BNN_SF_EXP(b), sb = (b & BNN_SF_SIGN) ^ (sub ? BNN_SF_SIGN : 0u);
    uint32_t sign, m;
    int32_t e;
    float v;
    if (BNN_SF_NORMAL(eb)) {
        if (bnn_sf_int_mul_unpacked(a, s, &sign, &e, &m)) {
            const uint32_t r = bnn_sf_add_unpacked(sign, e, m, sb, (int32_t)eb, BNN_SF_SIG(b));
            if (r != BNN_SF_SLOW) return r;
        } else if (a == 0 && BNN_SF_EXP(s) != 0xFFu) {
            return sb | (b & ~BNN_SF_SIGN); /* +-0 * finite s = +-0, +-0 + b = b for b != 0 */
        }
    }
    v = (float)a * bnn_sf_float(s);
    return bnn_sf_slow(sub ? v - bnn_sf_float(b) : v + bnn_sf_float(b));
}

/* The same, one lane at a time out of line: on Armv6-M the loop around the
 * inlined routine spills its registers (about 40 instructions per lane more). */
BNN_SF_NOINLINE uint32_t bnn_sf_lane_mul_add(int32_t a, uint32_t s, uint32_t b, int sub)
{
    return bnn_sf_int_mul_add(a, s, b, sub);
}

/* ---------------------------------------------------------------- the chain on 16 lanes */

/*
 * x (op) c, one of the chain's arithmetic ops, as the C op gives it (BNN_RSUB:
 * c - x). A difference is the sum with the subtrahend negated (IEEE defines
 * it so); off the fast path the C op itself (a NaN keeps its sign). Out of
 * line: one copy of each routine.
 */
BNN_SF_NOINLINE uint32_t bnn_sf_lane_op(enum bnn_channel_kind kind, uint32_t x, uint32_t c)
{
    const uint32_t u = kind == BNN_RSUB ? c : x, w = kind == BNN_RSUB ? x : c; /* u (+ or -) w */
    const uint32_t flip = kind == BNN_SUB || kind == BNN_RSUB ? BNN_SF_SIGN : 0u, eu = BNN_SF_EXP(u), ew = BNN_SF_EXP(w);
    float r;
    if (kind == BNN_MUL) return bnn_sf_mul(x, c);
    if (BNN_SF_NORMAL(eu) && BNN_SF_NORMAL(ew)) {
        const uint32_t sum = bnn_sf_add_unpacked(u & BNN_SF_SIGN, (int32_t)eu, BNN_SF_SIG(u),
                                                 (w & BNN_SF_SIGN) ^ flip, (int32_t)ew, BNN_SF_SIG(w));
        if (sum != BNN_SF_SLOW) return sum;
    } else if ((u << 1) == 0 && BNN_SF_NORMAL(ew)) {
        return w ^ flip; /* +-0 +- w = +-w for w != 0 */
    } else if ((w << 1) == 0 && BNN_SF_NORMAL(eu)) {
        return u;
    }
    r = flip ? bnn_sf_float(u) - bnn_sf_float(w) : bnn_sf_float(u) + bnn_sf_float(w);
    return bnn_sf_slow(r);
}

/* Lane l's constant of op (per channel: channel c0 + l; the compiler pads the tables to whole blocks). */
BNN_SF_INLINE uint32_t bnn_sf_constant(const struct bnn_float_op *op, int c0, int l)
{
    return bnn_sf_bits(op->c_len == 1 ? op->c[0] : op->c[c0 + l]);
}

/* Stores the float with bits u at y (through a union, which C99 allows: a
 * 4-byte memcpy here is a library call on Armv6-M). */
BNN_SF_INLINE void bnn_sf_store(float *y, uint32_t u)
{
    union {
        uint32_t u;
        float f;
    } bits;
    bits.u = u;
    *y = bits.f;
}

/*
 * The chain of `out` on (float)sums[l] for lanes (output channels c0 + l)
 * l < lanes, stored at y[l * stride] (stride 1: channels innermost; else one
 * plane per channel), bit for bit what bnn_mk_chain gives
 * (bnn_opt_portable.h), with the ops above: a leading multiply (and add)
 * fused with the conversion, then one op after another on the packed bits.
 * Division and clip take the C ops. `row`: the residual tensor's row at c0.
 * Only a leading multiply-add is fused (a batchnorm, the common case); the
 * other ops take one out-of-line routine each, to keep the code small. A
 * batchnorm alone goes from the sum to the output in one call per lane.
 * The microcontroller walk's store calls it (bnn_opt_mcu_walk.h).
 */
static inline void bnn_mk_chain_sums(const struct bnn_output *out, int c0, const float *row, int lanes,
                                     const int32_t sums[BNN_BLOCK], float *y, size_t stride)
{
    const struct bnn_float_op *ops = out->ops;
    uint32_t x[BNN_BLOCK];
    int n = 0, l;
    if (out->n_ops >= 2 && ops[0].kind == BNN_MUL && (ops[1].kind == BNN_ADD || ops[1].kind == BNN_SUB)) {
        const int sub = ops[1].kind == BNN_SUB, s_step = ops[0].c_len != 1, b_step = ops[1].c_len != 1;
        const float *s = ops[0].c + (s_step ? c0 : 0), *b = ops[1].c + (b_step ? c0 : 0);
        if (out->n_ops == 2) { /* the whole chain: straight to the output */
            for (l = 0; l < lanes; ++l, s += s_step, b += b_step, y += stride)
                bnn_sf_store(y, bnn_sf_lane_mul_add(sums[l], bnn_sf_bits(*s), bnn_sf_bits(*b), sub));
            return;
        }
        for (l = 0; l < BNN_BLOCK; ++l, s += s_step, b += b_step)
            x[l] = bnn_sf_lane_mul_add(sums[l], bnn_sf_bits(*s), bnn_sf_bits(*b), sub);
        n = 2;
    } else {
        for (l = 0; l < BNN_BLOCK; ++l) x[l] = bnn_sf_from_int(sums[l]);
    }
    for (; n < out->n_ops; ++n) {
        const struct bnn_float_op *op = &ops[n];
        switch (op->kind) {
        case BNN_MUL:
        case BNN_ADD:
        case BNN_SUB:
        case BNN_RSUB:
            for (l = 0; l < BNN_BLOCK; ++l) x[l] = bnn_sf_lane_op(op->kind, x[l], bnn_sf_constant(op, c0, l));
            break;
        case BNN_RELU: /* x > 0 ? x : +0; a NaN is not > 0 */
            for (l = 0; l < BNN_BLOCK; ++l) x[l] = (int32_t)x[l] > 0 && x[l] <= 0x7F800000u ? x[l] : 0u;
            break;
        case BNN_ADD_TENSOR:
            if (row == NULL) break; /* (never: the compiler passes the tensor the chain adds) */
            for (l = 0; l < BNN_BLOCK; ++l) x[l] = bnn_sf_lane_op(BNN_ADD, x[l], bnn_sf_bits(l < lanes ? row[l] : 0.0f));
            break;
        default: /* division, clip: the C ops */
            for (l = 0; l < BNN_BLOCK; ++l)
                x[l] = bnn_sf_bits(bnn_float_op_apply(op, bnn_sf_float(x[l]), (size_t)(c0 + l), 0.0f));
            break;
        }
    }
    for (l = 0; l < lanes; ++l, y += stride) bnn_sf_store(y, x[l]);
}

#endif /* BNN_SOFT_FLOAT_CHAIN */
#endif /* BNN_SOFTFLOAT_H */
