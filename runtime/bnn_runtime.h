/*
 * bnn_runtime.h -- the bnncompile C runtime, header-only C99.
 *
 * Read in this order:
 *   bnn_bits.h        the bit encoding, popcount, thresholds (binarizers)
 *   bnn_float.h       real-valued elementwise ops
 *   bnn_layer.h       what convolution and dense kernels share: geometry,
 *                     kernel layout, output transform
 *   bnn_ref_conv.h    reference convolutions and dense layers (XNOR/popcount,
 *                     BWN, real), NHWC, maths in comments
 *   bnn_ref_conv3d.h  reference 3-D convolutions (the same maths with a depth axis)
 *   bnn_ref_dense.h   the BAN dense layer
 *   bnn_ref_kbit.h    bit-plane layers: ternary and k-bit kernels and activations
 *   bnn_kernels.h     the seam: reference or fast kernels, by instruction set
 *   bnn_opt_*.h       the fast kernels: the driver (the walk over a layer), the
 *                     portable micro-kernels, SSE2, AVX2, AVX-512, NEON; bit-plane layers
 *   bnn_softfloat.h   the microcontroller walk's output chain in integers on cores without an FPU
 *   bnn_pool.h        max pooling on bits (AND), integers and floats; average and sum
 *                     pooling; 2-D and 3-D
 *   bnn_levels.h      k-bit levels: multi-thresholds, unpacking, pooling; packed concatenation
 *   bnn_layout.h      transpose, concatenation, padding, zero-stuffing, residual sums
 * Generated model code is constant data plus calls into these functions.
 *
 * Floating-point contraction is off for everything after this point: a
 * compiler may not fuse a*b + c into one FMA (one rounding instead of two),
 * so every build of the same C -- any flags, any instruction set -- gives the
 * same bits. Clang and other C99 compilers honour the standard pragma; GCC
 * ignores it (and contracts by default outside strict ISO modes such as
 * -std=c99), so it gets its own. Do not build with -ffast-math.
 */
#ifndef BNN_RUNTIME_H
#define BNN_RUNTIME_H

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#else
#pragma STDC FP_CONTRACT OFF
#endif

#include "bnn_bits.h"
#include "bnn_float.h"
#include "bnn_layer.h"
#include "bnn_kernels.h"
#include "bnn_pool.h"
#include "bnn_levels.h"
#include "bnn_layout.h"

#endif /* BNN_RUNTIME_H */
