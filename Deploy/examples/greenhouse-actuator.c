/* greenhouse-actuator: serves fireball://greenhouse/valve, drives the valve's GPIO pin as each
   command says and prints the command over the UART. Fails safe: with no command for 2 s (the
   aggregator is gone or moving) it closes the valve until commands come again.
   fireball run --board cortex-m33 --grant greenhouse-actuator=gpio0,uart0 greenhouse-actuator.wasm */
#include "greenhouse.h"

#define VALVE_PIN 6u
#define FAILSAFE_NS 2000000000LL

static const char prefix[] = "actuator: ";

FB_EXPORT("run") void run(void) {
    int32_t gpio = fb_device("gpio0");
    int32_t status = gpio < 0 ? gpio : fb_ioctl4(gpio, FB_OP_GPIO_CONFIGURE, FB_IO_PIN, VALVE_PIN, FB_IO_DIRECTION, 1, 0, 0, 0, 0, 0);
    if (status == FB_OK) status = fb_ioctl4(gpio, FB_OP_GPIO_SET, FB_IO_PIN, VALVE_PIN, FB_IO_VALUE, 0, 0, 0, 0, 0, 0);
    if (status < 0) { fb_log_report(FB_ERROR, prefix, "cannot drive gpio0 pin", VALVE_PIN, status); return; }   /* a deployment error */
    int32_t uart = fb_device("uart0"); /* without it, lines go to the log */

    char line[64];
    fb_text t;
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "valve on pin ");
    fb_text_u32(&t, VALVE_PIN);
    fb_text_str(&t, ", closed");
    gh_say(uart, &t);

    int32_t channel = gh_serve(prefix, GH_VALVE_URI);
    uint32_t open = 0, commands = 0, failsafe = 0;
    uint8_t buf[FB_MSG_MAX];
    for (;;) {
        int32_t ready = -1;
        int32_t length = fb_alt(&channel, 1, FAILSAFE_NS, buf, sizeof buf, &ready);
        if (length == FB_ETIMEDOUT) {
            if (open) {
                open = 0;
                failsafe = 1;
                fb_ioctl4(gpio, FB_OP_GPIO_SET, FB_IO_PIN, VALVE_PIN, FB_IO_VALUE, 0, 0, 0, 0, 0, 0);
                fb_text_init(&t, line, sizeof line);
                fb_text_str(&t, "valve OFF (no command for 2 s)");
                gh_say(uart, &t);
            }
            continue;
        }
        if (length < 0) {
            /* Our own channel closed under us (a client closed it): serve the URI afresh. */
            fb_log_report(FB_ERROR, prefix, "valve channel failed after commands:", commands, length);
            fb_sleep(GH_RETRY_NS);
            channel = gh_serve(prefix, GH_VALVE_URI);
            continue;
        }
        uint32_t n = (uint32_t)length, wanted = 0, average = 0;
        if (fb_msg_get_u32(buf, n, GH_KEY_VALVE, &wanted) != FB_OK || fb_msg_get_u32(buf, n, GH_KEY_AVERAGE, &average) != FB_OK) {
            fb_log_report(FB_ERROR, prefix, "command without valve or average after", commands, FB_EBADMSG);
            continue;
        }
        commands++;
        if (failsafe) fb_log_report(FB_INFO, prefix, "commands again; number", commands, FB_OK);
        failsafe = 0;
        open = wanted != 0;
        status = fb_ioctl4(gpio, FB_OP_GPIO_SET, FB_IO_PIN, VALVE_PIN, FB_IO_VALUE, open, 0, 0, 0, 0, 0);
        fb_text_init(&t, line, sizeof line);
        fb_text_str(&t, open ? "valve ON (avg " : "valve OFF (avg ");
        fb_text_u32(&t, average);
        fb_text_char(&t, ')');
        if (status < 0) { fb_text_str(&t, ", pin not set: "); fb_text_str(&t, fb_strerror(status)); }
        gh_say(uart, &t);
    }
}
