/* A node restarted at once (issue 14): the sender sends 1, 2, 3, … every 20 ms on
   fireball://restart/in, each message carrying its run (its start in ms) × 1000 + its number and
   logged "sent N" once the send returned OK; the receiver logs "got N" for every message. Built
   twice: -DSENDER and -DRECEIVER. */
#include "fireball.h"

#define URI "fireball://restart/in"

#ifdef SENDER
FB_EXPORT("run") void run(void) {
    int64_t run = fb_clock_ns() / 1000000 % 1000000;
    int32_t channel = -1;
    int64_t sequence = 0;
    for (;;) {
        if (channel < 0) {
            channel = fb_open(URI);
            if (channel < 0) { fb_sleep(10000000); continue; }
        }
        sequence++;
        uint8_t out[FB_MSG_BYTES(2)];
        fb_msg m;
        fb_msg_init(&m, out, sizeof out);
        fb_msg_put_u32(&m, 1, (uint32_t)run);
        fb_msg_put_u32(&m, 2, (uint32_t)sequence);
        int32_t status = fb_send(channel, &m);
        if (status == FB_OK) {
            fb_log_report(FB_INFO, "restart: ", "sent", run * 1000 + sequence, FB_OK);
        } else {
            fb_log_report(FB_INFO, "restart: ", "failed", run * 1000 + sequence, status);
            if (status == FB_ECLOSED || status == FB_EUNREACHABLE || status == FB_ENOENT) { fb_close(channel); channel = -1; }
        }
        fb_sleep(20000000);
    }
}
#endif

#ifdef RECEIVER
FB_EXPORT("run") void run(void) {
    int32_t channel = fb_serve(URI);
    for (;;) {
        uint8_t in[FB_MSG_MAX];
        int32_t length = fb_recv(channel, in, sizeof in);
        if (length < 0) { fb_close(channel); channel = fb_serve(URI); continue; }
        uint32_t run = 0, sequence = 0;
        fb_msg_get_u32(in, (uint32_t)length, 1, &run);
        fb_msg_get_u32(in, (uint32_t)length, 2, &sequence);
        fb_log_report(FB_INFO, "restart: ", "got", (int64_t)run * 1000 + sequence, FB_OK);
    }
}
#endif
