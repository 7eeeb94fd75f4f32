/* consumer: opens fireball://sensor/temperature and logs each reading with the moving average of
   the last WINDOW readings, until the producer closes the channel. Waits with channel_alt and a
   timeout, so a silent producer shows in the log. Uses floats; built freestanding, see build.sh. */
#include "fireball.h"
#include "sensor.h"

#define WINDOW 8
#define OPEN_TIMEOUT_NS 5000000000LL  /* the producer may start after us */
#define SILENCE_NS 1000000000LL       /* log when no reading came for 1 s */
#define SILENCES_MAX 5                /* and give up after 5 such seconds in a row */

static float window[WINDOW];
static uint32_t window_count, window_next;
static float window_sum;

/* Adds a reading and returns the average of the last WINDOW (fewer at the start). */
static float moving_average(float celsius) {
    if (window_count == WINDOW) window_sum -= window[window_next]; else window_count++;
    window[window_next] = celsius;
    window_sum += celsius;
    window_next = (window_next + 1) % WINDOW;
    return window_sum / (float)window_count;
}

static void log_line(int32_t level, const char *what, int64_t number, int32_t code) {
    fb_log_report(level, "consumer: ", what, number, code);
}

FB_EXPORT("run") void run(void) {
    int32_t channel = fb_open_wait(SENSOR_URI, OPEN_TIMEOUT_NS);
    if (channel < 0) { log_line(FB_ERROR, "cannot open " SENSOR_URI, -1, channel); return; }
    uint32_t readings = 0, silences = 0;
    uint8_t buf[FB_MSG_MAX];
    for (;;) {
        int32_t ready = -1;
        int32_t length = fb_alt(&channel, 1, SILENCE_NS, buf, sizeof buf, &ready);
        if (length == FB_ETIMEDOUT) {
            log_line(FB_ERROR, "no reading for 1 s; silences in a row:", ++silences, FB_OK);
            if (silences == SILENCES_MAX) break;
            continue;
        }
        if (length == FB_ECLOSED) break;
        if (length < 0) { log_line(FB_ERROR, "receive failed after readings:", readings, length); break; }
        silences = 0;
        uint32_t sequence = 0;
        float celsius = 0;
        uint32_t n = (uint32_t)length;
        if (fb_msg_get_u32(buf, n, SENSOR_KEY_SEQUENCE, &sequence) != FB_OK ||
            fb_msg_get_f32(buf, n, SENSOR_KEY_CELSIUS, &celsius) != FB_OK) {
            log_line(FB_ERROR, "reading without sequence or temperature, after", readings, FB_EBADMSG);
            continue;
        }
        readings++;
        float average = moving_average(celsius);
        char line[96];
        fb_text t;
        fb_text_init(&t, line, sizeof line);
        fb_text_str(&t, "consumer: #");
        fb_text_u32(&t, sequence);
        fb_text_char(&t, ' ');
        fb_text_f32(&t, celsius, 2);
        fb_text_str(&t, " C, moving average of ");
        fb_text_u32(&t, window_count);
        fb_text_str(&t, ": ");
        fb_text_f32(&t, average, 2);
        fb_text_str(&t, " C");
        fb_log_text(FB_INFO, &t);
    }
    fb_close(channel);
    log_line(FB_INFO, "done; readings:", readings, FB_OK);
}
