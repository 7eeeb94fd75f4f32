/* The device test guest: one scenario per build (-DSCENARIO=n), each reports over uart0. */
#include "fireball.h"

static volatile uint32_t handled[32];
static int32_t uart;

FB_EXPORT("interrupt_handler") void interrupt_handler(int32_t cause) {
    handled[cause]++;
    fb_interrupt_ack(cause);
}

static void report(const char *label, int32_t a, int32_t b, int32_t c) {
    char line[96]; fb_text t; fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, label); fb_text_char(&t, ' '); fb_text_i32(&t, a);
    fb_text_char(&t, ' '); fb_text_i32(&t, b); fb_text_char(&t, ' '); fb_text_i32(&t, c); fb_text_char(&t, '\n');
    fb_device_write_all(uart, t.buf, t.len);
}

static void wait_for(uint32_t cause, uint32_t count) { while (handled[cause] < count) fb_sleep(1000000); }

FB_EXPORT("run") void run(void) {
    uart = fb_device("uart0");
    if (uart < 0) { fb_log_str(FB_ERROR, "no uart"); return; }
#if SCENARIO == 1   /* GPIO: rising edges on pin 4 -> cause 2, once per edge */
    int32_t gpio = fb_device("gpio0");
    report("configure", fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, 4, FB_IO_DIRECTION, 0, FB_IO_EDGE, FB_EDGE_RISING, FB_IO_CAUSE, 2, 0),
           fb_interrupt_enable(2), 0);
    wait_for(2, 3);
    fb_sleep(5000000);
    report("edges", (int32_t)handled[2], 0, 0);
    uint32_t level = 9;
    report("set-input", fb_ioctl(gpio, FB_OP_GPIO_SET, FB_IO_PIN, 4, 0), fb_ioctl(gpio, FB_OP_GPIO_GET, FB_IO_PIN, 4, &level), (int32_t)level);
    fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, 6, FB_IO_DIRECTION, 1, 0, 0, 0, 0, 0);
    report("output", fb_ioctl4(gpio, FB_OP_GPIO_SET, FB_IO_PIN, 6, FB_IO_VALUE, 1, 0, 0, 0, 0, 0),
           fb_ioctl(gpio, FB_OP_GPIO_TOGGLE, FB_IO_PIN, 6, &level), (int32_t)level);
    uint8_t port[4] = {0};
    report("port", fb_device_read(gpio, port, 4), port[0], port[1]);
    report("bad-pin", fb_ioctl(gpio, FB_OP_GPIO_GET, FB_IO_PIN, 40, 0), 0, 0);
#elif SCENARIO == 2   /* timer: periodic 1 ms x5, then a one-shot */
    int32_t timer = fb_device("timer0");
    fb_interrupt_enable(1);
    fb_ioctl4(timer, FB_OP_TIMER_START, FB_IO_PERIOD_US, 1000, FB_IO_PERIODIC, 1, FB_IO_CAUSE, 1, 0, 0, 0);
    wait_for(1, 5);
    fb_ioctl(timer, FB_OP_TIMER_STOP, 0, 0, 0);
    uint32_t count = 0;
    fb_device_read(timer, &count, 4);
    fb_sleep(10000000);
    report("periodic", (int32_t)handled[1], (int32_t)count, 0);
    fb_ioctl4(timer, FB_OP_TIMER_START, FB_IO_PERIOD_US, 2000, FB_IO_PERIODIC, 0, FB_IO_CAUSE, 1, 0, 0, 0);
    fb_sleep(20000000);
    report("oneshot", (int32_t)handled[1], 0, 0);
    report("too-short", fb_ioctl(timer, FB_OP_TIMER_START, FB_IO_PERIOD_US, 1, 0), 0, 0);
#elif SCENARIO == 3   /* ADC */
    int32_t adc = fb_device("adc0");
    uint32_t sample = 0;
    uint16_t raw = 0;
    report("select", fb_ioctl(adc, FB_OP_ADC_SELECT, FB_IO_CHANNEL, 1, &sample), (int32_t)sample, 0);
    report("read", fb_device_read(adc, &raw, 2), raw, 0);
    fb_sleep(250000000);
    fb_device_read(adc, &raw, 2);
    report("later", raw, fb_ioctl(adc, FB_OP_ADC_SELECT, FB_IO_CHANNEL, 9, 0), fb_device_seek(adc, 0, FB_SEEK_SET));
#elif SCENARIO == 4   /* I2C: TMP102 */
    int32_t i2c = fb_device("i2c0");
    uint32_t present = 9;
    uint8_t reg = 0, bytes[2] = {0}, config[3] = {1, 0x60, 0xB0}, temp[3] = {0, 0x12, 0x34};
    report("target", fb_ioctl(i2c, FB_OP_I2C_TARGET, FB_IO_ADDRESS, 0x48, &present), (int32_t)present, 0);
    fb_device_write(i2c, &reg, 1);
    report("temperature", fb_device_read(i2c, bytes, 2), bytes[0], bytes[1]);
    reg = 1; fb_device_write(i2c, &reg, 1); fb_device_read(i2c, bytes, 2);
    report("config", bytes[0], bytes[1], 0);
    report("write-config", fb_device_write(i2c, config, 3), 0, 0);
    reg = 0; fb_device_write(i2c, &reg, 1); fb_device_read(i2c, bytes, 2);
    report("extended", bytes[0], bytes[1], 0);
    report("write-temperature", fb_device_write(i2c, temp, 3), 0, 0);
    report("absent", fb_ioctl(i2c, FB_OP_I2C_TARGET, FB_IO_ADDRESS, 0x50, &present), (int32_t)present, fb_device_write(i2c, &reg, 1));
#elif SCENARIO == 5   /* SPI flash */
    int32_t spi = fb_device("spi0");
    uint32_t id = 0;
    uint8_t data[2] = {0x0F, 0xF0}, again[2] = {0xFF, 0x3C}, back[2] = {0};
    report("jedec", fb_ioctl(spi, FB_OP_FLASH_JEDEC_ID, 0, 0, &id), (int32_t)id, 0);
    report("seek", fb_device_seek(spi, 4096, FB_SEEK_SET), 0, 0);
    fb_device_write(spi, data, 2);
    fb_device_seek(spi, 4096, FB_SEEK_SET); fb_device_write(spi, again, 2);
    fb_device_seek(spi, -2, FB_SEEK_CUR); fb_device_read(spi, back, 2);
    report("programmed", back[0], back[1], 0);
    fb_ioctl(spi, FB_OP_FLASH_ERASE_SECTOR, FB_IO_ADDRESS, 4096, 0);
    fb_device_seek(spi, 4096, FB_SEEK_SET); fb_device_read(spi, back, 2);
    report("erased", back[0], back[1], fb_ioctl(spi, FB_OP_FLASH_ERASE_SECTOR, FB_IO_ADDRESS, 100, 0));
    report("past-end", fb_device_seek(spi, 1, FB_SEEK_END), fb_device_seek(spi, 0, FB_SEEK_END), 0);
#elif SCENARIO == 6   /* UART receive with an RX interrupt */
    fb_ioctl(uart, FB_OP_IRQ_ENABLE, FB_IO_CAUSE, 3, 0);
    fb_interrupt_enable(3);
    wait_for(3, 1);
    char text[32] = {0};
    int32_t n = fb_device_read(uart, text, sizeof text - 1);
    report("received", n, (int32_t)handled[3], text[0]);
#elif SCENARIO == 7   /* access control */
    report("denied", fb_device("gpio0"), fb_device("ghost"), fb_device_read(99, 0, 0));
#elif SCENARIO == 8   /* masked cause waits, counted */
    int32_t gpio = fb_device("gpio0");
    fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, 4, FB_IO_DIRECTION, 0, FB_IO_EDGE, FB_EDGE_BOTH, FB_IO_CAUSE, 2, 0);
    fb_interrupt_enable(2);
    fb_interrupt_mask(2);
    report("masked", 0, 0, 0);
    fb_sleep(10000000);
    report("while-masked", (int32_t)handled[2], 0, 0);
    fb_interrupt_enable(2);
    wait_for(2, 3);
    fb_sleep(5000000);   /* and no more than the three */
    report("unmasked", (int32_t)handled[2], 0, 0);
#elif SCENARIO == 9   /* flood receiver: counts every edge */
    int32_t gpio = fb_device("gpio0");
    fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, 4, FB_IO_DIRECTION, 0, FB_IO_EDGE, FB_EDGE_BOTH, FB_IO_CAUSE, 2, 0);
    fb_interrupt_enable(2);
    report("flood-ready", 0, 0, 0);
    wait_for(2, 2000);
    report("flood", (int32_t)handled[2], 0, 0);
#elif SCENARIO == 10  /* worker beside the flood */
    for (int32_t i = 0; i < 50; i++) fb_yield();
    report("worker", 50, 0, 0);
#endif
}
