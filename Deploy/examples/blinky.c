/* blinky.c: blinks an LED on a timer interrupt, counts button presses (rising edges on an input
   pin, also an interrupt) and reports the TMP102's temperature over the UART once a second.
   Needs the devices uart0, gpio0, timer0 and i2c0 granted; runs on every board (no floats).
   fireball run --board cortex-m33 --grant blinky=uart0,gpio0,timer0,i2c0 Deploy/examples/blinky.wasm */
#include "fireball.h"

#define LED_PIN 5u
#define BUTTON_PIN 4u
#define TIMER_CAUSE 1
#define BUTTON_CAUSE 2
#define TMP102_ADDRESS 0x48u
#define BLINKS 16u

static volatile uint32_t ticks, presses;

/* Interrupt handlers only count and acknowledge; the main loop does the work. */
FB_EXPORT("interrupt_handler") void interrupt_handler(int32_t cause) {
    if (cause == TIMER_CAUSE) ticks++;
    if (cause == BUTTON_CAUSE) presses++;
    fb_interrupt_ack(cause);
}

static int32_t open_device(const char *name) {
    int32_t handle = fb_device(name);
    if (handle < 0) {
        char line[64]; fb_text t; fb_text_init(&t, line, sizeof line);
        fb_text_str(&t, "blinky: cannot open "); fb_text_str(&t, name); fb_text_str(&t, ": "); fb_text_str(&t, fb_strerror(handle));
        fb_log_text(FB_ERROR, &t);
    }
    return handle;
}

/* The TMP102's temperature register in hundredths of a degree (12-bit, 0.0625 °C per count). */
static int32_t read_centidegrees(int32_t i2c, int32_t *centi) {
    uint8_t pointer = 0, bytes[2];
    int32_t status = fb_device_write(i2c, &pointer, 1);
    if (status < 0) return status;
    status = fb_device_read(i2c, bytes, 2);
    if (status < 0) return status;
    int32_t raw = (int16_t)(uint16_t)((uint32_t)bytes[0] << 8 | bytes[1]) / 16;
    *centi = raw * 25 / 4;
    return FB_OK;
}

static void say(int32_t uart, fb_text *t) {
    fb_text_char(t, '\n');
    fb_device_write_all(uart, t->buf, t->len);
}

FB_EXPORT("run") void run(void) {
    int32_t uart = open_device("uart0"), gpio = open_device("gpio0"), timer = open_device("timer0"), i2c = open_device("i2c0");
    if (uart < 0 || gpio < 0 || timer < 0 || i2c < 0) return;
    fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, LED_PIN, FB_IO_DIRECTION, 1, 0, 0, 0, 0, 0);
    fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, BUTTON_PIN, FB_IO_DIRECTION, 0, FB_IO_EDGE, FB_EDGE_RISING,
              FB_IO_CAUSE, BUTTON_CAUSE, 0);
    uint32_t present = 0;
    fb_ioctl(i2c, FB_OP_I2C_TARGET, FB_IO_ADDRESS, TMP102_ADDRESS, &present);
    fb_interrupt_enable(TIMER_CAUSE);
    fb_interrupt_enable(BUTTON_CAUSE);
    fb_ioctl4(timer, FB_OP_TIMER_START, FB_IO_PERIOD_US, 250000, FB_IO_PERIODIC, 1, FB_IO_CAUSE, TIMER_CAUSE, 0, 0, 0);

    char line[96]; fb_text t;
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "blinky: LED on pin 5 every 250 ms, TMP102 at 0x48 ");
    fb_text_str(&t, present ? "answers" : "is missing");
    say(uart, &t);

    uint32_t seen = 0;
    while (seen < BLINKS) {
        if (ticks == seen) { fb_sleep(1000000000); continue; }   /* an interrupt ends the sleep */
        seen = ticks;
        uint32_t level = 0;
        fb_ioctl(gpio, FB_OP_GPIO_TOGGLE, FB_IO_PIN, LED_PIN, &level);
        if (seen % 4 != 0) continue;
        int32_t centi = 0, status = read_centidegrees(i2c, &centi);
        fb_text_init(&t, line, sizeof line);
        fb_text_str(&t, "tick "); fb_text_u32(&t, seen);
        fb_text_str(&t, ": led "); fb_text_u32(&t, level);
        if (status == FB_OK) {
            fb_text_str(&t, ", temperature ");
            if (centi < 0) { fb_text_char(&t, '-'); centi = -centi; }
            fb_text_i32(&t, centi / 100); fb_text_char(&t, '.');
            if (centi % 100 < 10) fb_text_char(&t, '0');
            fb_text_i32(&t, centi % 100); fb_text_str(&t, " C");
        } else {
            fb_text_str(&t, ", temperature unreadable: "); fb_text_str(&t, fb_strerror(status));
        }
        fb_text_str(&t, ", button presses "); fb_text_u32(&t, presses);
        say(uart, &t);
    }
    fb_ioctl(timer, FB_OP_TIMER_STOP, 0, 0, 0);
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "blinky: done after "); fb_text_u32(&t, seen); fb_text_str(&t, " blinks");
    say(uart, &t);
}
