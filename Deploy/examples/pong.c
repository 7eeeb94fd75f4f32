/* pong: serves fireball://pong/echo and sends every message back with a counter entry added,
   until the channel is closed. Built freestanding (fireball imports only); see build.sh. */
#include "fireball.h"
#include "pingpong.h"

/* Logs "pong: <what>[ <number>][: <error>]"; number < 0 and code FB_OK are left out. */
static void report(int32_t level, const char *what, int64_t number, int32_t code) {
    fb_log_report(level, "pong: ", what, number, code);
}

FB_EXPORT("run") void run(void) {
    int32_t channel = fb_serve(PONG_URI);
    if (channel < 0) { report(FB_ERROR, "cannot serve " PONG_URI, -1, channel); return; }
    fb_log_str(FB_INFO, "pong: serving " PONG_URI);
    uint32_t counter = 0;
    uint8_t buf[FB_MSG_MAX]; /* always large enough: no message is ever dropped for size */
    for (;;) {
        int32_t length = fb_recv(channel, buf, sizeof buf);
        if (length == FB_ECLOSED) break;
        if (length < 0) { report(FB_ERROR, "recv after message", counter, length); break; }
        counter++;
        /* Add the counter to the received message in place and send the same buffer back. */
        fb_msg m;
        int32_t status = fb_msg_from(&m, buf, sizeof buf, (uint32_t)length);
        if (status != FB_OK) { report(FB_ERROR, "unreadable message", counter, status); continue; }
        status = fb_msg_put_u32(&m, PP_KEY_COUNTER, counter); /* on error m is unchanged */
        if (status != FB_OK) report(FB_ERROR, "echoing without counter", counter, status);
        status = fb_send(channel, &m);
        if (status == FB_ECLOSED) break;
        if (status != FB_OK) { report(FB_ERROR, "send", counter, status); break; }
        report(FB_INFO, "echoed", counter, FB_OK);
    }
    report(FB_INFO, "channel closed; messages echoed:", counter, FB_OK);
}
