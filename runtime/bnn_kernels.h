/*
 * bnn_kernels.h -- the kernel seam: which implementation the layer kernels
 * use, chosen when the C is compiled, from the target compiler's predefined
 * macros (as Larq Compute Engine does it). Generated code calls only the
 * entry points at the end of this file.
 *
 *   BNN_REFERENCE_KERNELS defined   the reference kernels (bnn_ref_*.h), the
 *                                   readable oracle
 *   BNN_PORTABLE_KERNELS defined    the fast kernels in plain C (bnn_opt_portable.h)
 *   __AVX512F__ and __AVX512VPOPCNTDQ__
 *                                   x86-64 AVX-512 with VPOPCNTD (bnn_opt_avx512.h)
 *   __AVX2__                        x86-64 AVX2 (bnn_opt_avx2.h)
 *   __x86_64__ (SSE2)               any other x86-64: SSE2 is in its baseline (bnn_opt_sse2.h)
 *   __aarch64__ and __ARM_NEON      AArch64 NEON (bnn_opt_neon.h)
 *   __ARM_ARCH_6M__, __ARM_ARCH_7M__, __ARM_ARCH_7EM__
 *                                   Cortex-M (bnn_opt_cortexm.h)
 *   __riscv, 32-bit                 RV32 with or without Zbb (bnn_opt_riscv.h)
 *   anything else                   the portable fast kernels
 *
 * An instruction-set header supplies micro-kernels (the innermost loops:
 * BNN_HAVE_MK_* says which) and BNN_TILE; bnn_opt_portable.h supplies
 * whatever a header leaves out, and bnn_opt_driver.h is the walk over a layer
 * they all share; the microcontroller headers (BNN_MCU_KERNELS) run binary
 * layers through bnn_opt_mcu_walk.h instead (on cores without an FPU, with
 * the output chain in integers: bnn_softfloat.h). Every variant is tested bit for
 * bit against the reference (tests/test_kernel_variants.py; on the cores
 * under QEMU, tests/test_mcu_kernels.py).
 * To add one: a header with the micro-kernels it improves, one #elif below.
 */
#ifndef BNN_KERNELS_H
#define BNN_KERNELS_H

#include "bnn_ref_conv.h"
#include "bnn_ref_conv3d.h"
#include "bnn_ref_dense.h"
#include "bnn_ref_kbit.h"

#if defined(BNN_REFERENCE_KERNELS)
#define BNN_KERNELS "reference"
#elif defined(BNN_PORTABLE_KERNELS)
#define BNN_KERNELS "portable"
#elif defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#define BNN_KERNELS "avx512-vpopcntdq"
#include "bnn_opt_avx512.h"
#elif defined(__AVX2__)
#define BNN_KERNELS "avx2"
#include "bnn_opt_avx2.h"
#elif defined(__SSE2__) && defined(__x86_64__)
#define BNN_KERNELS "sse2"
#include "bnn_opt_sse2.h"
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define BNN_KERNELS "neon"
#include "bnn_opt_neon.h"
#elif defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_6M__)
#include "bnn_opt_cortexm.h"
#elif defined(__riscv) && __riscv_xlen == 32
#include "bnn_opt_riscv.h"
#else
#define BNN_KERNELS "portable"
#endif

#ifndef BNN_REFERENCE_KERNELS
#include "bnn_opt_driver.h"
#include "bnn_opt_kbit.h"
#endif
#ifdef BNN_MCU_KERNELS
#include "bnn_opt_mcu_walk.h"
#endif

/* ---------------------------------------------------------------- entry points */

/* Binary (or ternary) input, binary kernel: convolutions and dense layers (bnn_layer.h). */
static inline void bnn_bconv2d(const struct bnn_bconv2d *layer, const uint32_t *x, const uint32_t *x_mask,
                               const float *other, void *y, uint32_t *y_mask)
{
#if defined(BNN_REFERENCE_KERNELS)
    bnn_ref_bconv2d(layer, x, x_mask, other, y, y_mask);
#elif defined(BNN_MCU_KERNELS)
    bnn_mcu_bconv2d(layer, x, x_mask, other, y, y_mask);
#else
    bnn_opt_bconv2d(layer, x, x_mask, other, y, y_mask);
#endif
}

/* Real input, real or binary kernel: convolutions and dense layers. */
static inline void bnn_fconv2d(const struct bnn_fconv2d *layer, const float *x, const float *other, float *y)
{
#ifdef BNN_REFERENCE_KERNELS
    bnn_ref_fconv2d(layer, x, other, y);
#else
    bnn_opt_fconv2d(layer, x, other, y);
#endif
}

/* Packed levels of any coding on both sides: ternary and k-bit kernels, k-bit and {0,1} inputs (bnn_ref_kbit.h). */
static inline void bnn_kconv2d(const struct bnn_kconv2d *layer, const uint32_t *x, const float *other, void *y)
{
#ifdef BNN_REFERENCE_KERNELS
    bnn_ref_kconv2d(layer, x, other, y);
#else
    bnn_opt_kconv2d(layer, x, other, y);
#endif
}

/* 3-D convolutions (bnn_ref_conv3d.h): the reference kernels on every target. */
static inline void bnn_bconv3d(const struct bnn_bconv3d *layer, const uint32_t *x, const uint32_t *x_mask, void *y,
                               uint32_t *y_mask)
{
    bnn_ref_bconv3d(layer, x, x_mask, y, y_mask);
}

static inline void bnn_fconv3d(const struct bnn_fconv3d *layer, const float *x, void *y, uint32_t *y_mask)
{
    bnn_ref_fconv3d(layer, x, y, y_mask);
}

/* Thresholds of a tensor into packed bits (bnn_bits.h). */
static inline void bnn_threshold(const void *src, int src_is_float, int channel_major, size_t rows, size_t channels,
                                 const int32_t *lo, const int32_t *hi, const uint8_t *flip, size_t t_len,
                                 uint32_t *bits, uint32_t *mask)
{
#ifdef BNN_REFERENCE_KERNELS
    bnn_ref_threshold(src, src_is_float, channel_major, rows, channels, lo, hi, flip, t_len, bits, mask);
#else
    bnn_opt_threshold(src, src_is_float, channel_major, rows, channels, lo, hi, flip, t_len, bits, mask);
#endif
}

#endif /* BNN_KERNELS_H */
