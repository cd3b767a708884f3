/*
 * console.c -- a tiny printf for bnncompile test programs on bare-metal
 * targets (bnncompile targets/common). See target.h for the subset it
 * supports; every character goes out through the target's console_write.
 */
#include "target.h"

#include <stdint.h>
#include <string.h>

/* ---- formatter ---------------------------------------------------------- */

struct sink {
    char *buf;
    size_t size; /* including the NUL */
    size_t len;
    size_t total;
    int flush; /* 1: write out when full (printf); 0: truncate (snprintf) */
};

static void sink_putc(struct sink *s, char c)
{
    s->total++;
    if (s->size == 0u) {
        return;
    }
    if (s->len + 1u >= s->size) {
        if (!s->flush) {
            return;
        }
        s->buf[s->len] = '\0';
        console_write(s->buf);
        s->len = 0;
    }
    s->buf[s->len++] = c;
}

static void sink_puts(struct sink *s, const char *str)
{
    while (*str) {
        sink_putc(s, *str++);
    }
}

static void sink_unsigned(struct sink *s, unsigned long v, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[3 * sizeof v];
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v != 0u);
    while (n > 0u) {
        sink_putc(s, tmp[--n]);
    }
}

/* %.Ne of a double: good to ~15 significant digits, plenty for a float. */
static void sink_exp(struct sink *s, double v, int prec)
{
    /* 10^(2^i) */
    static const double pow10_2i[9] = {1e1, 1e2, 1e4, 1e8, 1e16, 1e32, 1e64, 1e128, 1e256};
    uint64_t bits, n, lim = 10u;
    double scale = 1.0;
    int e10 = 0, i;
    char tmp[24];
    size_t k = 0;

    memcpy(&bits, &v, sizeof bits);
    if (bits >> 63) {
        sink_putc(s, '-');
        v = -v;
    }
    if (v != v) {
        sink_puts(s, "nan");
        return;
    }
    if (v > 1.7976931348623157e308) {
        sink_puts(s, "inf");
        return;
    }
    if (prec < 0) {
        prec = 6;
    }
    if (prec > 16) {
        prec = 16;
    }
    if (v != 0.0) {
        if (v >= 10.0) {
            for (i = 8; i >= 0; --i) {
                if (v >= pow10_2i[i]) {
                    v /= pow10_2i[i];
                    e10 += 1 << i;
                }
            }
        } else if (v < 1.0) {
            for (i = 8; i >= 0; --i) {
                if (v * pow10_2i[i] < 10.0) {
                    v *= pow10_2i[i];
                    e10 -= 1 << i;
                }
            }
        }
    }
    for (i = 0; i < prec; ++i) {
        scale *= 10.0;
        lim *= 10u;
    }
    n = (uint64_t)(v * scale + 0.5);
    if (n >= lim) { /* rounded up to 10.000 */
        n /= 10u;
        e10 += 1;
    }
    for (i = 0; i <= prec; ++i) {
        tmp[k++] = (char)('0' + (int)(n % 10u));
        n /= 10u;
    }
    sink_putc(s, tmp[--k]);
    if (prec > 0) {
        sink_putc(s, '.');
    }
    while (k > 0u) {
        sink_putc(s, tmp[--k]);
    }
    sink_putc(s, 'e');
    sink_putc(s, e10 < 0 ? '-' : '+');
    if (e10 < 0) {
        e10 = -e10;
    }
    if (e10 < 10) {
        sink_putc(s, '0');
    }
    sink_unsigned(s, (unsigned long)e10, 10u, 0);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; ++fmt) {
        int prec = -1, is_long = 0, is_size = 0;
        if (*fmt != '%') {
            sink_putc(s, *fmt);
            continue;
        }
        ++fmt;
        if (*fmt == '.') {
            prec = 0;
            for (++fmt; *fmt >= '0' && *fmt <= '9'; ++fmt) {
                prec = prec * 10 + (*fmt - '0');
            }
        }
        if (*fmt == 'l') {
            is_long = 1;
            ++fmt;
        } else if (*fmt == 'z') {
            is_size = 1;
            ++fmt;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            long v = is_long ? va_arg(ap, long) : is_size ? (long)va_arg(ap, size_t) : (long)va_arg(ap, int);
            if (v < 0) {
                sink_putc(s, '-');
                sink_unsigned(s, 0ul - (unsigned long)v, 10u, 0);
            } else {
                sink_unsigned(s, (unsigned long)v, 10u, 0);
            }
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long v = is_long ? va_arg(ap, unsigned long)
                              : is_size ? (unsigned long)va_arg(ap, size_t)
                                        : (unsigned long)va_arg(ap, unsigned);
            sink_unsigned(s, v, *fmt == 'u' ? 10u : 16u, *fmt == 'X');
            break;
        }
        case 'c':
            sink_putc(s, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            sink_puts(s, str ? str : "(null)");
            break;
        }
        case 'e':
        case 'E':
        case 'f':
        case 'g':
        case 'G':
            sink_exp(s, va_arg(ap, double), prec);
            break;
        case '%':
            sink_putc(s, '%');
            break;
        case '\0':
            return;
        default: /* unsupported: print it verbatim */
            sink_putc(s, '%');
            sink_putc(s, *fmt);
            break;
        }
    }
}

int console_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct sink s;
    s.buf = buf;
    s.size = size;
    s.len = 0;
    s.total = 0;
    s.flush = 0;
    format(&s, fmt, ap);
    if (size > 0u) {
        buf[s.len] = '\0';
    }
    return (int)s.total;
}

int console_printf(const char *fmt, ...)
{
    char buf[96];
    struct sink s;
    va_list ap;
    s.buf = buf;
    s.size = sizeof buf;
    s.len = 0;
    s.total = 0;
    s.flush = 1;
    va_start(ap, fmt);
    format(&s, fmt, ap);
    va_end(ap);
    if (s.len > 0u) {
        buf[s.len] = '\0';
        console_write(buf);
    }
    return (int)s.total;
}
