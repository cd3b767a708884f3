#ifndef BNN_OPT_RISCV_H
#define BNN_OPT_RISCV_H
#define BNN_MCU_KERNELS
#if defined(__riscv_zbb)
#define BNN_KERNELS "riscv32-zbb"
#else
#define BNN_KERNELS "riscv32"
#endif
#define BNN_CSA_GROUP 16
#include "bnn_opt_mcu.h"
#endif
