/* The simulator's workload (Sources/Simulator): guests whose log lines the simulator checks its
   invariants against. Built with -DSENDER, -DRECEIVER, -DSERVING_RECEIVER or -DHUB, and -DURI="…".
   Every line starts "sim ": "sim sent S Q" once a send of sender S's message Q returned 0,
   "sim failed S Q E" when it failed with E, "sim got S Q" when a receiver took it. */
#include "fireball.h"

__attribute__((import_module("wasi_snapshot_preview1"), import_name("random_get")))
int32_t wasi_random_get(void *buffer, uint32_t length);

static void line(const char *what, uint32_t sender, uint32_t sequence, int32_t code, int with_code) {
    char text[80];
    fb_text t;
    fb_text_init(&t, text, sizeof text);
    fb_text_str(&t, "sim ");
    fb_text_str(&t, what);
    fb_text_char(&t, ' ');
    fb_text_u32(&t, sender);
    fb_text_char(&t, ' ');
    fb_text_u32(&t, sequence);
    if (with_code) { fb_text_char(&t, ' '); fb_text_i32(&t, code); }
    fb_log_text(FB_INFO, &t);
}

#ifdef SENDER
/* Sends 1, 2, 3, … every 20 ms; after a failure it closes (if the channel is gone) and reopens. A
   message is never sent again: a retry would be a new number. */
FB_EXPORT("run") void run(void) {
    uint32_t sender = 0;
    wasi_random_get(&sender, sizeof sender);
    sender &= 0x7fffffff;
    int32_t channel = -1;
    uint32_t sequence = 0;
    for (;;) {
        if (channel < 0) {
            channel = fb_open(URI);
            if (channel < 0) { fb_sleep(50000000); continue; }
        }
        sequence++;
        uint8_t out[FB_MSG_BYTES(3)];
        fb_msg m;
        fb_msg_init(&m, out, sizeof out);
        fb_msg_put_u32(&m, 1, sender);
        fb_msg_put_u32(&m, 2, sequence);
#ifdef WITH_VALUE
        uint32_t numbers[2] = { sender, sequence };
        int32_t value = fb_value_alloc(sizeof numbers);
        if (value < 0) { line("novalue", sender, sequence, value, 1); fb_sleep(20000000); continue; }
        fb_value_write(value, 0, numbers, sizeof numbers);
        fb_msg_put_shm(&m, 3, value);
#endif
        int32_t status = fb_send(channel, &m);
        if (status == FB_OK) {
            line("sent", sender, sequence, 0, 0);
#ifdef CLOSE_EVERY
            if (sequence % CLOSE_EVERY == 0) { fb_close(channel); channel = -1; }
#endif
        } else {
#ifdef WITH_VALUE
            fb_value_free(value);   /* a failed send gives the value back */
#endif
            line("failed", sender, sequence, status, 1);
            /* A dead channel's handle is let go (its close stays here); after EUNREACHABLE the
               channel may be fine (a relay's receiver died): the next send tells. */
            if (status == FB_ECLOSED || status == FB_ENOENT) { fb_close(channel); channel = -1; }
        }
        fb_sleep(20000000);
    }
}
#endif

#if defined(RECEIVER) || defined(SERVING_RECEIVER)
/* Receives for ever: a serving receiver serves URI (and serves it again if a client closed it), a
   receiver opens it (and reopens it when it failed). */
FB_EXPORT("run") void run(void) {
    int32_t channel = -1;
    for (;;) {
        if (channel < 0) {
#ifdef SERVING_RECEIVER
            channel = fb_serve(URI);
#else
            channel = fb_open(URI);
#endif
            if (channel < 0) { fb_sleep(50000000); continue; }
        }
        uint8_t in[FB_MSG_MAX];
#ifdef ALT_TIMEOUT
        int32_t index = 0;
        int32_t length = fb_alt(&channel, 1, 200000000, in, sizeof in, &index);
        if (length == FB_ETIMEDOUT) continue;
#else
        int32_t length = fb_recv(channel, in, sizeof in);
#endif
        if (length < 0) {
            if (length == FB_ECLOSED || length == FB_ENOENT) { fb_close(channel); channel = -1; }
            continue;
        }
        uint32_t sender = 0, sequence = 0;
        fb_msg_get_u32(in, (uint32_t)length, 1, &sender);
        fb_msg_get_u32(in, (uint32_t)length, 2, &sequence);
        int32_t value = -1;
        if (fb_msg_get_shm(in, (uint32_t)length, 3, &value) == FB_OK) {
            uint32_t numbers[2] = { 0, 0 };
            int32_t read = fb_value_read(value, 0, numbers, sizeof numbers);
            if (read != FB_OK || numbers[0] != sender || numbers[1] != sequence) line("badvalue", sender, sequence, read, 1);
            fb_value_free(value);
        }
        line("got", sender, sequence, 0, 0);
    }
}
#endif

#ifdef HUB
/* Serves URI and receives nothing: senders and receivers on other nodes meet on it (a relay). */
FB_EXPORT("run") void run(void) {
    while (fb_serve(URI) < 0) fb_sleep(50000000);
    for (;;) fb_sleep(1000000000);
}
#endif
