/* greenhouse-sensor: every 250 ms samples soil moisture on adc0 channel 0 (and, if it answers,
   the TMP102 on i2c0) and sends it as a reading to fireball://greenhouse/readings. When the
   aggregator is gone it keeps sampling, retries every 300 ms and says when it is back.
   fireball run --board microbit-v2 --grant greenhouse-sensor=adc0,i2c0 greenhouse-aggregator.wasm greenhouse-sensor.wasm */
#include "greenhouse.h"

#ifndef GH_SENSOR_ID
#define GH_SENSOR_ID 1u
#endif
#define PERIOD_NS 250000000LL
#define ADC_CHANNEL 0u
#define TMP102_ADDRESS 0x48u

static const char prefix[] = "sensor: ";

/* The TMP102's temperature register in hundredths of a degree (12 bits of 1/16 degree). */
static int32_t read_centidegrees(int32_t i2c, int32_t *centi) {
    uint8_t pointer = 0, bytes[2];
    int32_t status = fb_device_write(i2c, &pointer, 1);
    if (status >= 0) status = fb_device_read(i2c, bytes, 2);
    if (status < 0) return status;
    *centi = (int16_t)(uint16_t)((uint32_t)bytes[0] << 8 | bytes[1]) / 16 * 25 / 4;
    return FB_OK;
}

static int32_t read_moisture(int32_t adc, uint32_t *counts) {
    uint8_t bytes[2];
    int32_t n = fb_device_read(adc, bytes, 2);
    if (n < 0) return n;
    if (n != 2) return FB_EIO;
    *counts = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8;
    return FB_OK;
}

FB_EXPORT("run") void run(void) {
    int32_t adc = fb_device("adc0");
    uint32_t counts = 0;
    int32_t status = adc < 0 ? adc : fb_ioctl(adc, FB_OP_ADC_SELECT, FB_IO_CHANNEL, ADC_CHANNEL, &counts);
    if (status < 0) { fb_log_report(FB_ERROR, prefix, "cannot use adc0", -1, status); return; }   /* not granted: a deployment error */
    /* The thermometer is optional: without it readings carry moisture only. */
    int32_t i2c = fb_device("i2c0");
    uint32_t present = 0;
    if (i2c >= 0 && (fb_ioctl(i2c, FB_OP_I2C_TARGET, FB_IO_ADDRESS, TMP102_ADDRESS, &present) < 0 || !present)) i2c = -1;
    fb_log_report(FB_INFO, prefix, i2c >= 0 ? "adc0 channel 0 and TMP102, period ms" : "adc0 channel 0, period ms",
                  PERIOD_NS / 1000000, FB_OK);

    int32_t channel = -1;
    uint32_t sequence = 0, delivered = 0, failures = 0; /* failures: attempts in a row that did not deliver */
    int64_t next = fb_clock_ns();
    for (;;) {
        if (channel < 0) {
            channel = fb_open(GH_READINGS_URI);
            if (channel < 0) {
                if (failures++ == 0) gh_log(FB_ERROR, prefix, "waiting for", GH_READINGS_URI, channel);
                fb_sleep(GH_RETRY_NS);
                continue;
            }
        }
        sequence++;
        if ((status = read_moisture(adc, &counts)) != FB_OK) {
            fb_log_report(FB_ERROR, prefix, "cannot read adc0 for reading", sequence, status);
        } else {
            uint8_t out[FB_MSG_BYTES(4)];
            fb_msg m;
            fb_msg_init(&m, out, sizeof out);
            fb_msg_put_u32(&m, GH_KEY_SENSOR, GH_SENSOR_ID);
            fb_msg_put_u32(&m, GH_KEY_SEQUENCE, sequence);
            fb_msg_put_u32(&m, GH_KEY_MOISTURE, counts);
            int32_t centi = 0;
            if (i2c >= 0 && read_centidegrees(i2c, &centi) == FB_OK) fb_msg_put_i32(&m, GH_KEY_CENTI_CELSIUS, centi);
            status = fb_send(channel, &m); /* returns once the aggregator has it */
            if (status != FB_OK) {
                /* Not delivered: this reading is dropped (it is stale by the time the aggregator is back). */
                if (failures++ == 0) fb_log_report(FB_ERROR, prefix, "lost the aggregator at reading", sequence, status);
                channel = gh_drop(channel, status);
                fb_sleep(GH_RETRY_NS);
                continue;
            }
            if (delivered++ == 0 || failures > 0) {
                fb_log_report(FB_INFO, prefix, delivered == 1 ? "connected; delivered reading" : "reconnected; delivered reading", sequence, FB_OK);
            } else {
                fb_log_report(FB_DEBUG, prefix, "delivered reading", sequence, FB_OK);
            }
            failures = 0;
        }
        /* A fixed schedule, so time blocked in a send does not stretch the period; after an
           outage it starts afresh rather than catching up in a burst. */
        int64_t now = fb_clock_ns();
        next += PERIOD_NS;
        if (next < now) next = now + PERIOD_NS;
        fb_sleep(next - now);
    }
}
