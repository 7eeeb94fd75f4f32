/* producer: serves fireball://sensor/temperature and sends READING_COUNT simulated temperature
   readings, one every READING_PERIOD_NS, then closes the channel. Uses floats: boards without an
   FPU refuse it at load time. Built freestanding (fireball imports only); see build.sh. */
#include "fireball.h"
#include "sensor.h"

#define READING_COUNT 40
#define READING_PERIOD_NS 50000000LL /* 50 ms */

/* A reproducible simulated sensor: a slow triangle wave around 21 C plus +-0.25 C of noise. */
static uint32_t noise_state = 0x2545F491u;

static float simulated_celsius(uint32_t sequence) {
    noise_state ^= noise_state << 13; /* xorshift32 */
    noise_state ^= noise_state >> 17;
    noise_state ^= noise_state << 5;
    int32_t phase = (int32_t)(sequence % 20);
    int32_t wave_millis = (phase < 10 ? phase : 20 - phase) * 400 - 2000; /* -2.0 .. +2.0 C */
    int32_t noise_millis = (int32_t)(noise_state % 501) - 250;
    return 21.0f + (float)(wave_millis + noise_millis) / 1000.0f;
}

static void log_reading(int32_t level, const char *what, uint32_t sequence, float celsius, int32_t code) {
    char line[96];
    fb_text t;
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "producer: ");
    fb_text_str(&t, what);
    fb_text_str(&t, " #");
    fb_text_u32(&t, sequence);
    fb_text_char(&t, ' ');
    fb_text_f32(&t, celsius, 2);
    fb_text_str(&t, " C");
    if (code != FB_OK) {
        fb_text_str(&t, ": ");
        fb_text_str(&t, fb_strerror(code));
    }
    fb_log_text(level, &t);
}

FB_EXPORT("run") void run(void) {
    int32_t channel = fb_serve(SENSOR_URI);
    if (channel < 0) { fb_log_str(FB_ERROR, "producer: cannot serve " SENSOR_URI); return; }
    fb_log_str(FB_INFO, "producer: serving " SENSOR_URI);
    for (uint32_t sequence = 1; sequence <= READING_COUNT; sequence++) {
        float celsius = simulated_celsius(sequence);
        uint8_t out[FB_MSG_BYTES(3)];
        fb_msg m;
        int32_t status = fb_msg_init(&m, out, sizeof out);
        if (status == FB_OK) status = fb_msg_put_u32(&m, SENSOR_KEY_SEQUENCE, sequence);
        if (status == FB_OK) status = fb_msg_put_f32(&m, SENSOR_KEY_CELSIUS, celsius);
        if (status == FB_OK) status = fb_msg_put_u32(&m, SENSOR_KEY_TIME_MS, (uint32_t)(fb_clock_ns() / 1000000));
        if (status == FB_OK) status = fb_send(channel, &m); /* returns once the consumer has it */
        if (status != FB_OK) { log_reading(FB_ERROR, "cannot send", sequence, celsius, status); break; }
        log_reading(sequence % 10 == 0 ? FB_INFO : FB_DEBUG, "sent", sequence, celsius, FB_OK);
        fb_sleep(READING_PERIOD_NS);
    }
    fb_close(channel); /* the consumer's next receive says "closed" */
    fb_log_str(FB_INFO, "producer: done");
}
