/*
 * insn_count.c -- QEMU TCG plugin: count executed guest instructions, in
 * total and between two marker addresses (bnncompile benchmarks).
 *
 *   qemu-system-arm ... -plugin ./libinsn_count.so,begin=0x1234,end=0x1240[,out=FILE][,profile=FILE]
 *   (qemu-system-riscv32 the same way)
 *
 * Every executed instruction adds 1 to a counter (an inline TCG add, no
 * helper call). A "region" opens when the instruction at `begin` executes
 * and closes when the instruction at `end` executes; its count is the
 * counter difference. Point begin/end at the first instruction of two
 * never-inlined marker functions called around the code to measure (the
 * golden programs' golden_bench_begin/golden_bench_end): the region then
 * holds the code between the calls plus a few instructions of call
 * overhead, which an empty begin/end pair measures. Thumb addresses may be
 * given with bit 0 set (as `nm` prints them); bit 0 is ignored.
 *
 * At exit it prints (to FILE, or stderr):
 *   insn_count: total N
 *   insn_count: region I N          one line per closed region, in order
 * With profile=FILE it also counts every instruction address executed inside
 * regions and writes "ADDRESS COUNT" lines (hex, decimal) to FILE, for
 * attributing a region's instructions to functions (mcu_footprint.py --profile).
 *
 * Debian's QEMU ships no qemu-plugin.h, so the few API declarations used
 * are below; they match QEMU 7.2 (plugin API version 1, still valid in
 * later versions that keep the v1 calls). Build:
 *   gcc -shared -fPIC -O2 -Wall -Wextra -o libinsn_count.so insn_count.c
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the subset of qemu-plugin.h used here (QEMU 7.2, API version 1) ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
/* ------------------------------------------------------------------------ */

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* Single-vCPU boards (Cortex-M; RISC-V virt with its default one hart), so plain globals are enough. */
static uint64_t total;
static uint64_t begin_addr = UINT64_MAX, end_addr = UINT64_MAX;
static uint64_t region_start;
static bool region_open;
static uint64_t *regions;
static size_t n_regions, cap_regions;
static uint64_t unmatched_begins, unmatched_ends;
static char *out_path;

/* profile=FILE: one counter per instruction address, in an open-addressing table */
static char *profile_path;
struct pc_count {
    uint64_t pc, count;
};
static struct pc_count *pcs;
static size_t pcs_cap, pcs_used;

static struct pc_count *pc_slot(uint64_t pc)
{
    size_t i;
    if (2 * (pcs_used + 1) > pcs_cap) { /* full (counters are addressed by pointer: no growing) */
        return NULL;
    }
    for (i = (size_t)(pc * 0x9E3779B97F4A7C15ull) & (pcs_cap - 1); pcs[i].pc != UINT64_MAX && pcs[i].pc != pc;
         i = (i + 1) & (pcs_cap - 1)) {
    }
    if (pcs[i].pc == UINT64_MAX) {
        pcs[i].pc = pc;
        pcs_used++;
    }
    return &pcs[i];
}

static void on_insn(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (region_open) {
        ((struct pc_count *)udata)->count++;
    }
}

static void on_begin(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (region_open) {
        unmatched_begins++;
    }
    region_open = true;
    region_start = total;
}

static void on_end(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (!region_open) {
        unmatched_ends++;
        return;
    }
    region_open = false;
    if (n_regions == cap_regions) {
        size_t cap = cap_regions ? 2 * cap_regions : 64;
        uint64_t *grown = realloc(regions, cap * sizeof *grown);
        if (!grown) {
            return;
        }
        regions = grown;
        cap_regions = cap;
    }
    regions[n_regions++] = total - region_start;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        if (profile_path) {
            struct pc_count *slot = pc_slot(pc);
            if (slot) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn, QEMU_PLUGIN_CB_NO_REGS, slot);
            }
        }
        if (pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    FILE *f = stderr;
    size_t i;
    (void)id;
    (void)udata;
    if (out_path && !(f = fopen(out_path, "w"))) {
        f = stderr;
    }
    fprintf(f, "insn_count: total %" PRIu64 "\n", total);
    for (i = 0; i < n_regions; i++) {
        fprintf(f, "insn_count: region %zu %" PRIu64 "\n", i, regions[i]);
    }
    if (region_open || unmatched_begins || unmatched_ends) {
        fprintf(f, "insn_count: warning: %s, %" PRIu64 " unmatched begins, %" PRIu64 " unmatched ends\n",
                region_open ? "a region was still open" : "no region open", unmatched_begins, unmatched_ends);
    }
    if (f != stderr) {
        fclose(f);
    }
    if (profile_path && (f = fopen(profile_path, "w"))) {
        for (i = 0; i < pcs_cap; i++) {
            if (pcs[i].pc != UINT64_MAX && pcs[i].count) {
                fprintf(f, "%" PRIx64 " %" PRIu64 "\n", pcs[i].pc, pcs[i].count);
            }
        }
        if (2 * pcs_used >= pcs_cap) {
            fprintf(f, "# table full: some addresses were not counted\n");
        }
        fclose(f);
    }
}

static int parse_addr(const char *text, uint64_t *addr)
{
    char *endp;
    unsigned long long v = strtoull(text, &endp, 0);
    if (*text == '\0' || *endp != '\0') {
        return -1;
    }
    *addr = (uint64_t)v & ~(uint64_t)1;
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "arg=", 4) == 0) { /* QEMU < 6 style */
            arg += 4;
        }
        if (strncmp(arg, "begin=", 6) == 0 && parse_addr(arg + 6, &begin_addr) == 0) {
            continue;
        }
        if (strncmp(arg, "end=", 4) == 0 && parse_addr(arg + 4, &end_addr) == 0) {
            continue;
        }
        if (strncmp(arg, "out=", 4) == 0 && arg[4] != '\0') {
            out_path = strdup(arg + 4);
            continue;
        }
        if (strncmp(arg, "profile=", 8) == 0 && arg[8] != '\0') {
            profile_path = strdup(arg + 8);
            continue;
        }
        fprintf(stderr, "insn_count: bad argument '%s' (want begin=ADDR, end=ADDR, out=FILE, profile=FILE)\n", argv[i]);
        return -1;
    }
    if (profile_path) { /* 1M addresses: far more than a golden program has (it is never grown) */
        pcs_cap = (size_t)1 << 21;
        pcs = malloc(pcs_cap * sizeof *pcs);
        if (!pcs) {
            return -1;
        }
        memset(pcs, 0xFF, pcs_cap * sizeof *pcs);
        for (i = 0; (size_t)i < pcs_cap; i++) {
            pcs[i].count = 0;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
