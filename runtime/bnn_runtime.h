/*
 * bnn_runtime.h -- the bnncompile C runtime, header-only C99.
 *
 * Read in this order:
 *   bnn_bits.h   the bit encoding, popcount, thresholds (binarizers)
 *   bnn_dense.h  the four dense layer kinds (XNOR/popcount, BWN, BAN, float)
 *   bnn_float.h  real-valued elementwise ops
 * Generated model code is constant data plus calls into these functions.
 */
#ifndef BNN_RUNTIME_H
#define BNN_RUNTIME_H

#include "bnn_bits.h"
#include "bnn_dense.h"
#include "bnn_float.h"

#endif /* BNN_RUNTIME_H */
