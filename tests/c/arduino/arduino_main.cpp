/* The other half of the Arduino stand-in (see Arduino.h): the core's main()
 * calls the sketch's setup() and then loop() once, and exits through
 * semihosting so that QEMU stops. */
#include "Arduino.h"

extern "C" {
#include "semihost.h"
}

void setup();
void loop();

StubSerial Serial;
static unsigned long ticks;

void StubSerial::begin(unsigned long baud) { (void)baud; }
void StubSerial::print(const char *text) { semihost_write0(text); }
void StubSerial::print(int value) { semihost_printf("%d", value); }
void StubSerial::print(unsigned long value) { semihost_printf("%lu", value); }
void StubSerial::print(double value) { semihost_printf("%g", value); }
void StubSerial::println(const char *text) { semihost_printf("%s\n", text); }

unsigned long micros(void) { return ++ticks; }
void delay(unsigned long ms) { (void)ms; }

extern "C" int main(void)
{
    setup();
    loop();
    return 0;
}
