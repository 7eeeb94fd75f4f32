/* Log flood guests (-DSCENARIO=n): 1 floods every console path it has; 2 is its neighbour, which
   computes, logs a little and finishes; 3 programs and reads back the top sector of a 3 GiB flash. */
#include "fireball.h"

typedef struct { const void *buf; uint32_t len; } fb_ciovec;
__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
int32_t wasi_fd_write(int32_t fd, const fb_ciovec *iovs, uint32_t count, uint32_t *written);

static void out(const char *text) {
    fb_ciovec vector = {text, fb_strlen(text)};
    uint32_t written = 0;
    wasi_fd_write(1, &vector, 1, &written);
}

FB_EXPORT("run") void run(void) {
#if SCENARIO == 1
    int32_t uart = fb_device("uart0");   /* granted on every board: floods its lines too */
    for (uint32_t round = 0;; round++) {
        fb_log_str(FB_INFO, "flood: log line\n[neighbour] INFO forged");
        out("flood: stdout line\x1b[2J\n");
        out("flood: no newline, ");         /* a partial line: the buffer must stay bounded */
        if (uart >= 0 && (round & 7) == 0) fb_device_write_all(uart, "flood: uart line\n", 17);
    }
#elif SCENARIO == 2
    uint32_t value = 1;
    for (int32_t step = 0; step < 10; step++) {
        for (int32_t i = 0; i < 20000; i++) value = value * 1103515245u + 12345u;
        char line[64]; fb_text t; fb_text_init(&t, line, sizeof line);
        fb_text_str(&t, "neighbour step "); fb_text_i32(&t, step); fb_log_text(FB_INFO, &t);
    }
    char line[64]; fb_text t; fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "neighbour done "); fb_text_u32(&t, value); fb_text_char(&t, '\n');
    fb_ciovec vector = {t.buf, t.len};
    uint32_t written = 0;
    wasi_fd_write(1, &vector, 1, &written);
#elif SCENARIO == 3
    int32_t spi = fb_device("spi0");
    int64_t top = 3LL * 1024 * 1024 * 1024 - 4096;
    uint8_t data[2] = {0x12, 0x34}, back[4] = {0};
    fb_device_seek(spi, top, FB_SEEK_SET);
    fb_device_read(spi, back, 4);
    char line[96]; fb_text t; fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "fresh "); fb_text_u32(&t, back[0]); fb_text_char(&t, ' '); fb_text_u32(&t, back[3]); fb_log_text(FB_INFO, &t);
    fb_device_seek(spi, top, FB_SEEK_SET);
    fb_device_write(spi, data, 2);
    fb_device_seek(spi, top, FB_SEEK_SET);
    fb_device_read(spi, back, 4);
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "written "); fb_text_u32(&t, back[0]); fb_text_char(&t, ' '); fb_text_u32(&t, back[1]);
    fb_text_char(&t, ' '); fb_text_u32(&t, back[2]); fb_log_text(FB_INFO, &t);
#endif
}
