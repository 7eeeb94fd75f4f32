/* The ping/pong echo protocol: what ping.c sends and pong.c answers (functional keys). */
#ifndef PINGPONG_H
#define PINGPONG_H

#define PONG_URI "fireball://pong/echo"

#define PP_KEY_SEQUENCE 1 /* i32: ping's message number, 1...PING_COUNT */
#define PP_KEY_PAYLOAD 2  /* u32: a value derived from the number, echoed unchanged */
#define PP_KEY_COUNTER 3  /* u32: added by pong: how many messages it has echoed, this one included */

/* The payload for message `sequence`: any bit error in the echo shows. */
#define PP_PAYLOAD(sequence) ((uint32_t)(sequence) * 2654435761u)

#endif
