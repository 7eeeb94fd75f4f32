/* greenhouse-aggregator: serves fireball://greenhouse/readings, keeps the moving average of the
   last WINDOW moisture readings and, for each reading, sends the actuator a valve command on
   fireball://greenhouse/valve: open when the soil is dry, closed again once it is wet (hysteresis,
   so the valve does not chatter around one threshold). Integers only (the ESP32-C3 has no FPU).
   fireball run --board microbit-v2 --grant greenhouse-actuator=gpio0,uart0 greenhouse-*.wasm */
#include "greenhouse.h"

#define WINDOW 8u
#define DRY_BELOW 2450u   /* open the valve when the average falls below this */
#define WET_ABOVE 2650u   /* close it when the average rises above this */
#define SILENCE_NS 2000000000LL

static const char prefix[] = "aggregator: ";

static uint32_t window[WINDOW], window_count, window_next, window_sum;

/* Adds a reading; the average of the last WINDOW (fewer at the start), rounded to nearest. */
static uint32_t moving_average(uint32_t moisture) {
    if (window_count == WINDOW) window_sum -= window[window_next]; else window_count++;
    window[window_next] = moisture;
    window_sum += moisture;
    window_next = (window_next + 1) % WINDOW;
    return (window_sum + window_count / 2) / window_count;
}

/* The valve command for a reading; the actuator is reached lazily, so readings keep flowing
   (and the average stays current) while it is away. */
static int32_t valve = -1;
static uint32_t valve_commands, valve_failures;
static int64_t valve_lost_at;

static void command(uint32_t sequence, uint32_t open, uint32_t average) {
    /* Retries are paced by the clock, not by readings: at most one every GH_RETRY_NS. */
    if (valve < 0) {
        if (valve_failures > 0 && fb_clock_ns() - valve_lost_at < GH_RETRY_NS) return;
        valve = fb_open(GH_VALVE_URI);
        if (valve < 0) {
            if (valve_failures++ == 0) gh_log(FB_ERROR, prefix, "waiting for", GH_VALVE_URI, valve);
            valve_lost_at = fb_clock_ns();
            return;
        }
    }
    uint8_t out[FB_MSG_BYTES(4)];
    fb_msg m;
    fb_msg_init(&m, out, sizeof out);
    fb_msg_put_u32(&m, GH_KEY_SEQUENCE, sequence);
    fb_msg_put_u32(&m, GH_KEY_VALVE, open);
    fb_msg_put_u32(&m, GH_KEY_AVERAGE, average);
    fb_msg_put_u32(&m, GH_KEY_WINDOW, window_count);
    int32_t status = fb_send(valve, &m);
    if (status != FB_OK) {
        if (valve_failures++ == 0) fb_log_report(FB_ERROR, prefix, "lost the actuator at reading", sequence, status);
        valve = gh_drop(valve, status);
        valve_lost_at = fb_clock_ns();
        return;
    }
    if (valve_commands++ == 0 || valve_failures > 0) {
        fb_log_report(FB_INFO, prefix, valve_commands == 1 ? "connected to the actuator at reading" : "reconnected to the actuator at reading",
                      sequence, FB_OK);
    }
    valve_failures = 0;
}

FB_EXPORT("run") void run(void) {
    int32_t readings = gh_serve(prefix, GH_READINGS_URI);
    uint32_t open = 0, last = 0, silent = 0;
    uint8_t buf[FB_MSG_MAX];
    for (;;) {
        int32_t ready = -1;
        int32_t length = fb_alt(&readings, 1, SILENCE_NS, buf, sizeof buf, &ready);
        if (length == FB_ETIMEDOUT) {
            if (!silent) fb_log_report(FB_ERROR, prefix, last ? "no reading for 2 s; the last was" : "no reading yet", last ? (int64_t)last : -1, FB_OK);
            silent = 1;
            continue;
        }
        if (length < 0) {
            /* Our own channel closed under us (a client closed it): serve the URI afresh. */
            fb_log_report(FB_ERROR, prefix, "readings channel failed", -1, length);
            fb_sleep(GH_RETRY_NS);
            readings = gh_serve(prefix, GH_READINGS_URI);
            continue;
        }
        uint32_t n = (uint32_t)length, sequence = 0, moisture = 0;
        if (fb_msg_get_u32(buf, n, GH_KEY_SEQUENCE, &sequence) != FB_OK || fb_msg_get_u32(buf, n, GH_KEY_MOISTURE, &moisture) != FB_OK) {
            fb_log_report(FB_ERROR, prefix, "reading without sequence or moisture after", last, FB_EBADMSG);
            continue;
        }
        if (silent) fb_log_report(FB_INFO, prefix, "readings again after", last, FB_OK);
        silent = 0;
        if (last != 0 && sequence > last + 1) fb_log_report(FB_INFO, prefix, "readings lost while reconnecting:", sequence - last - 1, FB_OK);
        if (last != 0 && sequence <= last) fb_log_report(FB_INFO, prefix, "the sensor restarted at reading", sequence, FB_OK);
        last = sequence;

        uint32_t average = moving_average(moisture);
        if (!open && average < DRY_BELOW) open = 1;
        else if (open && average > WET_ABOVE) open = 0;

        char line[96];
        fb_text t;
        fb_text_init(&t, line, sizeof line);
        fb_text_str(&t, prefix);
        fb_text_str(&t, "reading #");
        fb_text_u32(&t, sequence);
        fb_text_str(&t, " = ");
        fb_text_u32(&t, moisture);
        fb_text_str(&t, " -> avg ");
        fb_text_u32(&t, average);
        fb_text_str(&t, open ? ", valve ON" : ", valve OFF");
        int32_t centi = 0;
        if (fb_msg_get_i32(buf, n, GH_KEY_CENTI_CELSIUS, &centi) == FB_OK) {
            fb_text_str(&t, ", ");
            if (centi < 0) { fb_text_char(&t, '-'); centi = -centi; }
            fb_text_i32(&t, centi / 100);
            fb_text_char(&t, '.');
            if (centi % 100 < 10) fb_text_char(&t, '0');
            fb_text_i32(&t, centi % 100);
            fb_text_str(&t, " C");
        }
        fb_log_text(FB_INFO, &t);
        command(sequence, open, average);
    }
}
