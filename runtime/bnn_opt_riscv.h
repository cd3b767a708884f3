/*
 * bnn_opt_riscv.h -- binary layers on 32-bit RISC-V (bnn_opt_mcu_walk.h walks
 * them one output pixel at a time).
 *
 * With Zbb: `cpop` counts a word in one instruction, so the micro-kernel is a
 * plain XOR + cpop + add per word and output channel, 16 channels side by
 * side (each input word loaded once for all of them). The empty asm after
 * every 4 lanes keeps GCC from interleaving all 16 lanes' loads (it then runs
 * out of registers and spills the sums). Out of line: one copy, called once per
 * pixel and block.
 * Without Zbb: the carry-save popcount of bnn_opt_mcu.h, one lane at a time.
 */
#ifndef BNN_OPT_RISCV_H
#define BNN_OPT_RISCV_H
#define BNN_MCU_KERNELS
#if defined(__riscv_zbb) && defined(__GNUC__)
#define BNN_KERNELS "riscv32-zbb"
#include <stddef.h>
#include "bnn_layer.h"
#define BNN_MCU_HAVE_XOR_POPCOUNT16
#define BNN_MCU_NOINLINE static __attribute__((noinline))
BNN_MCU_NOINLINE void bnn_mcu_xor_popcount16(const uint32_t *x, ptrdiff_t x_row, const uint32_t *k, ptrdiff_t k_row,
                                          int na, int run, int fresh, int32_t acc[BNN_BLOCK])
{
    uint32_t s[BNN_BLOCK];
    int a, r, l;
    _Pragma("GCC unroll 16")
    for (l = 0; l < BNN_BLOCK; ++l) s[l] = fresh ? 0u : (uint32_t)acc[l];
    for (a = 0; a < na; ++a) {
        const uint32_t *xr = x + a * x_row, *kr = k + a * k_row * BNN_BLOCK;
        for (r = 0; r < run; ++r, kr += BNN_BLOCK) {
            const uint32_t xv = xr[r];
            _Pragma("GCC unroll 16")
            for (l = 0; l < BNN_BLOCK; ++l) {
                s[l] += (uint32_t)__builtin_popcount(xv ^ kr[l]);
                if (l % 4 == 3) __asm__ volatile("" ::: "memory");
            }
        }
    }
    _Pragma("GCC unroll 16")
    for (l = 0; l < BNN_BLOCK; ++l) acc[l] = (int32_t)s[l];
}
#else
#define BNN_KERNELS "riscv32"
#endif
#define BNN_CSA_GROUP 1
#include "bnn_opt_mcu.h"
#endif
