/* The other half of the Arduino stand-in (see Arduino.h): the core's main()
 * calls the sketch's setup() and then loop() once, and exits through
 * semihosting so that QEMU stops (targets/common/target.h: the console every
 * golden program uses). */
#include "Arduino.h"

extern "C" {
#include "target.h"
}

void setup();
void loop();

StubSerial Serial;
static unsigned long ticks;

void StubSerial::begin(unsigned long baud) { (void)baud; }
void StubSerial::print(const char *text) { console_write(text); }
void StubSerial::print(int value) { console_printf("%d", value); }
void StubSerial::print(unsigned long value) { console_printf("%lu", value); }
void StubSerial::print(double value) { console_printf("%g", value); }
void StubSerial::println(const char *text) { console_printf("%s\n", text); }

unsigned long micros(void) { return ++ticks; }
void delay(unsigned long ms) { (void)ms; }

extern "C" int main(void)
{
    setup();
    loop();
    return 0;
}
