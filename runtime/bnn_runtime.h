/*
 * bnn_runtime.h -- the bnncompile C runtime, header-only C99.
 *
 * Read in this order:
 *   bnn_bits.h   the bit encoding, popcount, thresholds (binarizers)
 *   bnn_dense.h  the four dense layer kinds (XNOR/popcount, BWN, BAN, float)
 *   bnn_conv.h   2-D convolutions (XNOR/popcount, BWN, real), NHWC
 *   bnn_pool.h   max pooling on bits (AND), integers and floats; average pooling
 *   bnn_float.h  real-valued elementwise ops
 *   bnn_layout.h transpose, concatenation, padding, residual sums
 * Generated model code is constant data plus calls into these functions.
 */
#ifndef BNN_RUNTIME_H
#define BNN_RUNTIME_H

#include "bnn_bits.h"
#include "bnn_dense.h"
#include "bnn_conv.h"
#include "bnn_pool.h"
#include "bnn_float.h"
#include "bnn_layout.h"

#endif /* BNN_RUNTIME_H */
