/* A stand-in for an Arduino core: just enough to build the example sketch that
 * `bnncompile compile --layout arduino` writes and to run it on a bare
 * Cortex-M under QEMU (tests/test_buildfiles.py). Serial prints through
 * semihosting; micros() counts calls. Not a real core: no hardware access. */
#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H

#include <stdint.h>

class StubSerial {
public:
    void begin(unsigned long baud);
    void print(const char *text);
    void print(int value);
    void print(unsigned long value);
    void print(double value);
    void println(const char *text);
};

extern StubSerial Serial;

unsigned long micros(void);
void delay(unsigned long ms);

#endif /* ARDUINO_STUB_H */
