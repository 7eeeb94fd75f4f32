/* ping: opens fireball://pong/echo, sends PING_COUNT numbered messages and checks every echo.
   Serves nothing. Built freestanding (fireball imports only); see build.sh. */
#include "fireball.h"
#include "pingpong.h"

#define PING_COUNT 10
#define OPEN_TIMEOUT_NS 5000000000LL /* pong may start after us: wait up to 5 s for it */

/* Logs "ping: <what>[ <number>][: <error>]"; number < 0 and code FB_OK are left out. */
static void report(int32_t level, const char *what, int64_t number, int32_t code) {
    fb_log_report(level, "ping: ", what, number, code);
}

/* One round trip; FB_OK or the error that ended it. */
static int32_t round_trip(int32_t channel, int32_t sequence) {
    uint8_t out[FB_MSG_BYTES(2)];
    fb_msg m;
    int32_t status = fb_msg_init(&m, out, sizeof out);
    if (status == FB_OK) status = fb_msg_put_i32(&m, PP_KEY_SEQUENCE, sequence);
    if (status == FB_OK) status = fb_msg_put_u32(&m, PP_KEY_PAYLOAD, PP_PAYLOAD(sequence));
    if (status != FB_OK) { report(FB_ERROR, "cannot build", sequence, status); return status; }
    status = fb_send(channel, &m);
    if (status != FB_OK) { report(FB_ERROR, "send", sequence, status); return status; }

    uint8_t in[FB_MSG_MAX];
    int32_t length = fb_recv(channel, in, sizeof in);
    if (length < 0) { report(FB_ERROR, "recv", sequence, length); return length; }
    int32_t echoed = 0;
    uint32_t payload = 0, counter = 0;
    uint32_t n = (uint32_t)length;
    if (fb_msg_count(in, n) != 3 || fb_msg_get_i32(in, n, PP_KEY_SEQUENCE, &echoed) != FB_OK ||
        fb_msg_get_u32(in, n, PP_KEY_PAYLOAD, &payload) != FB_OK || fb_msg_get_u32(in, n, PP_KEY_COUNTER, &counter) != FB_OK ||
        echoed != sequence || payload != PP_PAYLOAD(sequence) || counter != (uint32_t)sequence) {
        report(FB_ERROR, "wrong echo for", sequence, FB_EBADMSG);
        return FB_EBADMSG;
    }
    report(FB_INFO, "echo ok", sequence, FB_OK);
    return FB_OK;
}

FB_EXPORT("run") void run(void) {
    int32_t channel = fb_open_wait(PONG_URI, OPEN_TIMEOUT_NS);
    if (channel < 0) { report(FB_ERROR, "cannot open " PONG_URI, -1, channel); return; }
    int64_t start = fb_clock_ns();
    int32_t sequence = 1;
    while (sequence <= PING_COUNT && round_trip(channel, sequence) == FB_OK) sequence++;
    int64_t elapsed_us = (fb_clock_ns() - start) / 1000;
    fb_close(channel); /* pong sees "closed" and ends */

    char line[96];
    fb_text t;
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, "ping: ");
    fb_text_i32(&t, sequence - 1);
    fb_text_str(&t, " of ");
    fb_text_i32(&t, PING_COUNT);
    fb_text_str(&t, " round trips in ");
    fb_text_u64(&t, (uint64_t)elapsed_us);
    fb_text_str(&t, " us");
    fb_log_text(sequence > PING_COUNT ? FB_INFO : FB_ERROR, &t);
}
