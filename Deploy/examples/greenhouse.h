/* The greenhouse app (Docs/greenhouse.md): what greenhouse-sensor.c, -aggregator.c and -actuator.c
   send each other (functional keys), and the reconnect rules all three follow. */
#ifndef GREENHOUSE_H
#define GREENHOUSE_H

#include "fireball.h"

#define GH_READINGS_URI "fireball://greenhouse/readings" /* served by the aggregator */
#define GH_VALVE_URI "fireball://greenhouse/valve"       /* served by the actuator */

/* A reading, sensor -> aggregator. */
#define GH_KEY_SENSOR 1        /* u32: the sensor's id */
#define GH_KEY_SEQUENCE 2      /* u32: reading number from 1; readings lost while reconnecting leave gaps */
#define GH_KEY_MOISTURE 3      /* u32: soil moisture in ADC counts (12 bits; higher is wetter) */
#define GH_KEY_CENTI_CELSIUS 4 /* i32, optional: the TMP102's temperature in hundredths of a degree */

/* A valve command, aggregator -> actuator; it also carries GH_KEY_SEQUENCE, the reading it answers. */
#define GH_KEY_VALVE 16   /* u32: 1 open (watering), 0 closed */
#define GH_KEY_AVERAGE 17 /* u32: the moving average of moisture that decided it */
#define GH_KEY_WINDOW 18  /* u32: how many readings that average covers */

/* Pause between attempts to reach a peer that is gone: long enough not to spin while the
   orchestrator restarts it elsewhere, short enough that the demo resumes at once. */
#define GH_RETRY_NS 300000000LL

/* A failed send ends this handle's use; the caller opens the URI afresh. Closing is for dead
   channels only (ECLOSED: its server ended; EUNREACHABLE: its node is gone) and for mirrors whose
   far end no longer serves the URI (ENOENT: only a send across nodes fails so, and closing a
   mirror is local): closing a live local channel would close it for its server and every client. */
static inline int32_t gh_drop(int32_t handle, int32_t status) {
    if (handle >= 0 && (status == FB_ECLOSED || status == FB_EUNREACHABLE || status == FB_ENOENT)) fb_close(handle);
    return -1;
}

/* Logs "<prefix><what> <uri>[: <error>]". */
static inline void gh_log(int32_t level, const char *prefix, const char *what, const char *uri, int32_t code) {
    char line[96];
    fb_text t;
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, prefix);
    fb_text_str(&t, what);
    fb_text_char(&t, ' ');
    fb_text_str(&t, uri);
    if (code != FB_OK) {
        fb_text_str(&t, ": ");
        fb_text_str(&t, fb_strerror(code));
    }
    fb_log_text(level, &t);
}

/* Serves `uri`, retrying every GH_RETRY_NS while it is refused (an earlier instance of this
   module may hold it for a moment while the orchestrator moves it). */
static inline int32_t gh_serve(const char *prefix, const char *uri) {
    for (uint32_t attempt = 0;; attempt++) {
        int32_t handle = fb_serve(uri);
        if (handle >= 0) {
            gh_log(FB_INFO, prefix, "serving", uri, FB_OK);
            return handle;
        }
        if (attempt == 0) gh_log(FB_ERROR, prefix, "cannot serve yet, retrying:", uri, handle);
        fb_sleep(GH_RETRY_NS);
    }
}

/* Writes one line (a newline is added) to the UART, or to the log without one. */
static inline void gh_say(int32_t uart, fb_text *t) {
    if (uart < 0) { fb_log_text(FB_INFO, t); return; }
    fb_text_char(t, '\n');
    fb_device_write_all(uart, t->buf, t->len);
}

#endif
