/* Exactly-once across nodes: a sender numbers its messages 1..COUNT on fireball://count/in; the
   receiver serves that URI and checks that each number arrives once and in order. Built twice:
   -DSENDER (with -DPACE_MS between sends) and -DRECEIVER. Errors are logged with their code and the
   sender reopens and resends the same number, as a real guest would when its peer moves. */
#include "fireball.h"

#define URI "fireball://count/in"
#define KEY_SEQUENCE 1u

static void report(int32_t level, const char *what, int64_t number, int32_t code) {
    fb_log_report(level, "counter: ", what, number, code);
}

#ifdef SENDER
FB_EXPORT("run") void run(void) {
    int32_t channel = -1;
    int32_t sequence = 1;
    while (sequence <= COUNT) {
        if (channel < 0) {
            channel = fb_open(URI);
            if (channel < 0) { fb_sleep(50000000); continue; }   /* not served (yet): try again */
            report(FB_INFO, "opened for", sequence, FB_OK);
        }
        uint8_t out[FB_MSG_BYTES(1)];
        fb_msg m;
        fb_msg_init(&m, out, sizeof out);
        fb_msg_put_i32(&m, KEY_SEQUENCE, sequence);
        int32_t status = fb_send(channel, &m);
        if (status != FB_OK) {
            report(FB_ERROR, "send failed for", sequence, status);
            /* Closing a live channel would close it for its server too: only a dead one is let go. */
            if (status == FB_ECLOSED || status == FB_EUNREACHABLE) {
                fb_close(channel);
                channel = -1;
            }
            fb_sleep(100000000);
            continue;
        }
        if (sequence % 100 == 0) report(FB_INFO, "sent", sequence, FB_OK);
        sequence++;
        if (PACE_MS > 0) fb_sleep((int64_t)PACE_MS * 1000000);
    }
    report(FB_INFO, "all sent:", COUNT, FB_OK);
    fb_close(channel);
}
#endif

#ifdef RECEIVER
FB_EXPORT("run") void run(void) {
    int32_t channel = fb_serve(URI);
    if (channel < 0) { report(FB_ERROR, "cannot serve", -1, channel); return; }
    int32_t expected = 1;
    int32_t faults = 0;
    for (;;) {
        uint8_t in[FB_MSG_MAX];
        int32_t length = fb_recv(channel, in, sizeof in);
        if (length < 0) {
            /* A client closed the channel (for everyone): serve the URI again. */
            report(FB_ERROR, "recv", -1, length);
            fb_close(channel);
            channel = fb_serve(URI);
            if (channel < 0) { report(FB_ERROR, "cannot serve again", -1, channel); return; }
            continue;
        }
        int32_t sequence = 0;
        if (fb_msg_get_i32(in, (uint32_t)length, KEY_SEQUENCE, &sequence) != FB_OK) { report(FB_ERROR, "bad message", -1, FB_EBADMSG); continue; }
        if (expected == 1 && sequence > 1) {
            report(FB_INFO, "resuming at", sequence, FB_OK);   /* a new instance after a failover */
            expected = sequence;
        }
        if (sequence < expected) { report(FB_ERROR, "duplicate", sequence, FB_OK); faults++; continue; }
        if (sequence > expected) { report(FB_ERROR, "gap before", sequence, FB_OK); faults++; }
        expected = sequence + 1;
        if (sequence % 100 == 0) report(FB_INFO, "got", sequence, FB_OK);
        if (sequence == COUNT) report(faults == 0 ? FB_INFO : FB_ERROR, faults == 0 ? "all in order:" : "faults:", faults == 0 ? COUNT : faults, FB_OK);
    }
}
#endif
