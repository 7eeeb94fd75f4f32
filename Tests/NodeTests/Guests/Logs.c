/* Logs every way a guest can: a text record, a dictionary record, stdout, stderr and a UART line;
   then sleeps, so that it is still running when its log is read. */
#include "fireball.h"

typedef struct { const void *buf; uint32_t len; } fb_ciovec;
__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
int32_t wasi_fd_write(int32_t fd, const fb_ciovec *iovs, uint32_t count, uint32_t *written);

static void out(int32_t fd, const char *text) {
    fb_ciovec vector = {text, fb_strlen(text)};
    uint32_t written = 0;
    wasi_fd_write(fd, &vector, 1, &written);
}

FB_EXPORT("run") void run(void) {
    fb_log_str(FB_INFO, "a text record");
    uint8_t buffer[64];
    fb_msg message;
    fb_msg_init(&message, buffer, sizeof buffer);
    fb_msg_put(&message, FB_SCOPE_DICTIONARY, FB_TYPE_U32, 0, 0);   /* offset 0: "task {} started" */
    fb_msg_put_u32(&message, 1, 42);
    fb_log_message(FB_INFO, buffer, fb_msg_len(&message));
    out(1, "to stdout\n");
    out(2, "to stderr\n");
    int32_t uart = fb_device("uart0");
    if (uart >= 0) fb_device_write_all(uart, "to the uart\n", 12);
    fb_sleep(1000000000000LL);
}
