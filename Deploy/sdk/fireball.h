/* Fireball guest SDK: the "fireball" imports, their error codes, and the key-value message in C.
   Freestanding (no libc): clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry. See Docs/guest-abi.md. */
#ifndef FIREBALL_H
#define FIREBALL_H

#include <stdint.h> /* freestanding header: clang provides it without a libc */

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
   Attributes. A declared import that a guest never calls is not emitted, so including this
   header costs nothing: a module imports exactly the calls it uses.
   --------------------------------------------------------------------------------------------- */

#define FB_IMPORT(name) __attribute__((import_module("fireball"), import_name(name)))
#define FB_WASI_IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
/* Exports a guest function under `name`: FB_EXPORT("run") void run(void) { ... } */
#define FB_EXPORT(name) __attribute__((export_name(name)))

/* ---------------------------------------------------------------------------------------------
   Error codes: a negative return value. The numbers are fixed; they never change.
   --------------------------------------------------------------------------------------------- */

#define FB_OK 0
#define FB_EINVAL (-1)      /* bad argument, or a pointer/length outside the guest's memory */
#define FB_EBADF (-2)       /* no such handle (or a handle of another kind) */
#define FB_ECLOSED (-3)     /* the channel is closed (recv: closed and empty, "none") */
#define FB_ENOMEM (-4)      /* a partition or a table is full */
#define FB_EPERM (-5)       /* denied by role policy, or not granted */
#define FB_ENOENT (-6)      /* no such service URI (or, in the message readers, no such key) */
#define FB_ETIMEDOUT (-7)   /* channel_alt: no channel became ready in time */
#define FB_EMSGSIZE (-8)    /* the message is larger than the buffer */
#define FB_EBADMSG (-9)     /* refused by the wire-format decoder */
#define FB_ENOTOWNER (-10)  /* the co_value is owned by another task */
#define FB_EIO (-11)        /* a device did not answer or refused (I2C NACK, read-only register) */
#define FB_EUNREACHABLE (-12) /* the node serving the channel is gone (its link stayed down past the grace period) */

/* Log levels, from least to most severe. */
#define FB_TRACE 0
#define FB_DEBUG 1
#define FB_INFO 2
#define FB_ERROR 3
#define FB_FATAL 4

/* A short English name for an error code ("EINVAL"), for logs. */
static inline const char *fb_strerror(int32_t code) {
    switch (code) {
    case FB_OK: return "OK";
    case FB_EINVAL: return "EINVAL";
    case FB_EBADF: return "EBADF";
    case FB_ECLOSED: return "ECLOSED";
    case FB_ENOMEM: return "ENOMEM";
    case FB_EPERM: return "EPERM";
    case FB_ENOENT: return "ENOENT";
    case FB_ETIMEDOUT: return "ETIMEDOUT";
    case FB_EMSGSIZE: return "EMSGSIZE";
    case FB_EBADMSG: return "EBADMSG";
    case FB_ENOTOWNER: return "ENOTOWNER";
    case FB_EIO: return "EIO";
    case FB_EUNREACHABLE: return "EUNREACHABLE";
    default: return code >= 0 ? "OK" : "E?";
    }
}

/* ---------------------------------------------------------------------------------------------
   The imports, one to one (C name = "fb_" + import name). Handles are >= 0; errors are < 0.
   --------------------------------------------------------------------------------------------- */

/* Channels: CSP rendezvous between tasks, named by "fireball://<service>/<stream>". */
FB_IMPORT("channel_serve") int32_t fb_channel_serve(const char *uri, uint32_t uri_len);
FB_IMPORT("channel_open") int32_t fb_channel_open(const char *uri, uint32_t uri_len);
/* Blocks until a receiver has taken the message. */
FB_IMPORT("channel_send") int32_t fb_channel_send(int32_t handle, const void *msg, uint32_t msg_len);
/* Blocks until a message arrives; returns its length. buf_cap >= FB_MSG_MAX always suffices. */
FB_IMPORT("channel_recv") int32_t fb_channel_recv(int32_t handle, void *buf, uint32_t buf_cap);
/* Receives from whichever of `count` channels is ready first; timeout_ns < 0 waits forever. */
FB_IMPORT("channel_alt") int32_t fb_channel_alt(const int32_t *handles, uint32_t count, int64_t timeout_ns,
                                                void *buf, uint32_t buf_cap, int32_t *ready_index);
FB_IMPORT("channel_close") int32_t fb_channel_close(int32_t handle);

/* co_value: a kernel-held block owned by exactly one task; sending its handle moves ownership. */
FB_IMPORT("value_alloc") int32_t fb_value_alloc(uint32_t size);
FB_IMPORT("value_write") int32_t fb_value_write(int32_t handle, uint32_t offset, const void *src, uint32_t len);
FB_IMPORT("value_read") int32_t fb_value_read(int32_t handle, uint32_t offset, void *dst, uint32_t len);
FB_IMPORT("value_free") int32_t fb_value_free(int32_t handle);

/* Scheduling and time. */
FB_IMPORT("yield") void fb_yield(void);
FB_IMPORT("sleep") void fb_sleep(int64_t ns);
FB_IMPORT("clock_ns") int64_t fb_clock_ns(void);

/* Logging: level FB_TRACE..FB_FATAL, text of `len` bytes (UTF-8, no NUL needed). */
FB_IMPORT("log") void fb_log(int32_t level, const char *text, uint32_t len);
/* A dictionary log record: an encoded message with one dictionary-scope entry naming a text of the
   node's dictionary and functional entries filling its "{}" in key order. 0 or FB_EBADMSG. */
FB_IMPORT("log_message") int32_t fb_log_message(int32_t level, const void *message, uint32_t len);

/* ---------------------------------------------------------------------------------------------
   devices (HAL): open a board device by name (only those granted to the guest), then read, write,
   seek and ioctl it. Each call is one request to the node's device service over IPC; a read or
   write moves at most FB_DEVICE_IO_MAX bytes per call (the count tells how many).
   A guest that wants interrupts exports:  FB_EXPORT("interrupt_handler") void interrupt_handler(int32_t cause)
   --------------------------------------------------------------------------------------------- */

#define FB_SEEK_SET 0
#define FB_SEEK_CUR 1
#define FB_SEEK_END 2

FB_IMPORT("device_open") int32_t fb_device_open(const char *name, uint32_t name_len);
FB_IMPORT("device_read") int32_t fb_device_read(int32_t handle, void *buf, uint32_t len);
FB_IMPORT("device_write") int32_t fb_device_write(int32_t handle, const void *buf, uint32_t len);
FB_IMPORT("device_seek") int32_t fb_device_seek(int32_t handle, int64_t offset, int32_t whence);
/* Parameters and reply are key-value messages (no raw pointers cross into drivers). */
FB_IMPORT("device_ioctl") int32_t fb_device_ioctl(int32_t handle, const void *msg, uint32_t msg_len,
                                                  void *reply, uint32_t reply_cap);
FB_IMPORT("interrupt_enable") int32_t fb_interrupt_enable(int32_t cause);
FB_IMPORT("interrupt_mask") int32_t fb_interrupt_mask(int32_t cause);
FB_IMPORT("interrupt_ack") int32_t fb_interrupt_ack(int32_t cause);

#define FB_DEVICE_IO_MAX 112

/* ioctl parameter and reply keys (functional scope). */
#define FB_IO_OP 1u
#define FB_IO_PIN 2u
#define FB_IO_VALUE 3u
#define FB_IO_CAUSE 4u          /* interrupt cause to raise (default: the board's irq for the device) */
#define FB_IO_EDGE 5u           /* FB_EDGE_* */
#define FB_IO_PERIOD_US 6u
#define FB_IO_PERIODIC 7u
#define FB_IO_CHANNEL 8u
#define FB_IO_ADDRESS 9u
#define FB_IO_DIRECTION 10u     /* 0 input, 1 output */
#define FB_IO_KIND 11u          /* INFO reply: 0 uart 1 gpio 2 timer 3 adc 4 i2c 5 spi */
#define FB_IO_WINDOW_BASE 12u
#define FB_IO_WINDOW_SIZE 13u
#define FB_IO_IRQ 14u
/* ioctl operations (value of FB_IO_OP). */
#define FB_OP_INFO 1u           /* any device: kind, window, irq */
#define FB_OP_IRQ_ENABLE 2u     /* uart: RX interrupts (cause) */
#define FB_OP_IRQ_DISABLE 3u    /* uart; gpio (pin) */
#define FB_OP_GPIO_CONFIGURE 16u /* pin, direction, edge, cause */
#define FB_OP_GPIO_SET 17u      /* pin, value (outputs only: FB_EPERM on an input) */
#define FB_OP_GPIO_GET 18u      /* pin -> value */
#define FB_OP_GPIO_TOGGLE 19u   /* pin -> value */
#define FB_OP_TIMER_START 32u   /* period_us (>= 10), periodic, cause; read() gives the expiry count */
#define FB_OP_TIMER_STOP 33u
#define FB_OP_ADC_SELECT 48u    /* channel -> value (a sample); read() gives 2 bytes (u16 LE) */
#define FB_OP_I2C_TARGET 64u    /* address (7-bit) -> value 1 if a chip acknowledged, else 0 */
#define FB_OP_FLASH_ERASE_SECTOR 80u /* address (4 KiB aligned) */
#define FB_OP_FLASH_JEDEC_ID 81u     /* -> value (JEDEC id), window_size (flash bytes) */
#define FB_OP_FLASH_ERASE_CHIP 82u
#define FB_OP_UART_BAUD 96u     /* optional value -> value */
#define FB_EDGE_NONE 0u
#define FB_EDGE_RISING 1u
#define FB_EDGE_FALLING 2u
#define FB_EDGE_BOTH 3u

/* From the WASI subset every guest may import: ends the guest with `status` (0 = success). */
FB_WASI_IMPORT("proc_exit") __attribute__((noreturn)) void fb_proc_exit(int32_t status);

/* ---------------------------------------------------------------------------------------------
   The key-value message (Docs/wire-format.md), little-endian:
     header  4 bytes   version 1, count N (<= 32), 0, 0
     entries 8N bytes  [scope:3|type:5] [key: 24 bits] [value: 32 bits], in insertion order
     index   N bytes   entry numbers in ascending (scope, key) order
   A message of N entries is exactly 4 + 9N bytes, at most FB_MSG_MAX (292).
   --------------------------------------------------------------------------------------------- */

#define FB_MSG_VERSION 1
#define FB_MSG_ENTRIES_MAX 32
#define FB_MSG_BYTES(n) (4u + 9u * (uint32_t)(n))
#define FB_MSG_MAX 292u /* FB_MSG_BYTES(32): a receive buffer of this size always suffices */
#define FB_MSG_KEY_MAX 0xFFFFFFu

#define FB_SCOPE_FUNCTIONAL 0u /* the key is a number the protocol defines */
#define FB_SCOPE_DICTIONARY 1u /* the key is a string offset in the receiver's dictionary */

#define FB_TYPE_I32 1u
#define FB_TYPE_U32 2u
#define FB_TYPE_F32 3u
#define FB_TYPE_SHM 4u /* a co_value handle: ownership moves to the receiver */

/* A message being built in a caller's buffer. The buffer always holds a complete, valid encoding:
   send buf[0 ..< fb_msg_len(m)] at any time. */
typedef struct fb_msg {
    uint8_t *buf;
    uint32_t cap;
} fb_msg;

static inline uint32_t fb__load32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void fb__store32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The sort key of the entry at `e`: scope << 24 | key (the type takes no part). */
static inline uint32_t fb__sort_key(const uint8_t *e) {
    return (uint32_t)(e[0] >> 5) << 24 | (uint32_t)e[1] | (uint32_t)e[2] << 8 | (uint32_t)e[3] << 16;
}

static inline uint32_t fb__f32_bits(float v) {
    union { float f; uint32_t u; } pun;
    pun.f = v;
    return pun.u;
}

static inline float fb__bits_f32(uint32_t v) {
    union { float f; uint32_t u; } pun;
    pun.u = v;
    return pun.f;
}

/* Starts an empty message in buf[0 ..< cap]. FB_EINVAL without a buffer, FB_EMSGSIZE if cap < 4. */
static inline int32_t fb_msg_init(fb_msg *m, void *buf, uint32_t cap) {
    if (m == 0 || buf == 0) return FB_EINVAL;
    m->buf = (uint8_t *)buf;
    m->cap = cap;
    if (cap < FB_MSG_BYTES(0)) {
        m->cap = 0;
        return FB_EMSGSIZE;
    }
    m->buf[0] = FB_MSG_VERSION;
    m->buf[1] = 0;
    m->buf[2] = 0;
    m->buf[3] = 0;
    return FB_OK;
}

/* Entries in the message so far. */
static inline uint32_t fb_msg_entries(const fb_msg *m) { return m->cap == 0 ? 0 : m->buf[1]; }

/* The encoded length: the number of bytes to send. */
static inline uint32_t fb_msg_len(const fb_msg *m) { return FB_MSG_BYTES(fb_msg_entries(m)); }

/* Adds one entry of any scope and type, keeping the sorted index valid. On error nothing changes:
   FB_EINVAL   scope, type or key out of range (key > FB_MSG_KEY_MAX), or no buffer;
   FB_ENOMEM   the message already holds 32 entries;
   FB_EBADMSG  the key (scope and number) is already present: a decoder would refuse a duplicate;
   FB_EMSGSIZE the buffer cannot hold one more entry (needs FB_MSG_BYTES(n + 1)). */
static inline int32_t fb_msg_put(fb_msg *m, uint32_t scope, uint32_t type, uint32_t key, uint32_t bits) {
    if (m == 0 || m->cap == 0) return FB_EINVAL;
    if (scope > FB_SCOPE_DICTIONARY || type < FB_TYPE_I32 || type > FB_TYPE_SHM || key > FB_MSG_KEY_MAX) return FB_EINVAL;
    uint8_t *b = m->buf;
    uint32_t n = b[1];
    if (n >= FB_MSG_ENTRIES_MAX) return FB_ENOMEM;
    uint8_t *index = b + 4 + 8 * n;
    uint32_t target = scope << 24 | key;
    uint32_t low = 0, high = n;
    while (low < high) { /* lower_bound over the index */
        uint32_t mid = (low + high) >> 1;
        if (fb__sort_key(b + 4 + 8 * index[mid]) < target) low = mid + 1; else high = mid;
    }
    if (low < n && fb__sort_key(b + 4 + 8 * index[low]) == target) return FB_EBADMSG;
    if (m->cap < FB_MSG_BYTES(n + 1)) return FB_EMSGSIZE;
    /* The index moves up 8 bytes to make room for the new entry where it began; walking down
       from the top never overwrites a byte that is still to be read. */
    uint8_t *moved = index + 8;
    for (uint32_t i = n + 1; i-- > 0;) {
        moved[i] = i > low ? index[i - 1] : i == low ? (uint8_t)n : index[i];
    }
    uint8_t *e = b + 4 + 8 * n;
    e[0] = (uint8_t)(scope << 5 | type);
    e[1] = (uint8_t)key;
    e[2] = (uint8_t)(key >> 8);
    e[3] = (uint8_t)(key >> 16);
    fb__store32(e + 4, bits);
    b[1] = (uint8_t)(n + 1);
    return FB_OK;
}

/* Typed builders for functional-scope keys (the C API's keys; see Docs/guest-abi.md). */
static inline int32_t fb_msg_put_i32(fb_msg *m, uint32_t key, int32_t value) {
    return fb_msg_put(m, FB_SCOPE_FUNCTIONAL, FB_TYPE_I32, key, (uint32_t)value);
}
static inline int32_t fb_msg_put_u32(fb_msg *m, uint32_t key, uint32_t value) {
    return fb_msg_put(m, FB_SCOPE_FUNCTIONAL, FB_TYPE_U32, key, value);
}
static inline int32_t fb_msg_put_f32(fb_msg *m, uint32_t key, float value) {
    return fb_msg_put(m, FB_SCOPE_FUNCTIONAL, FB_TYPE_F32, key, fb__f32_bits(value));
}
/* `value` is a co_value handle from fb_value_alloc; sending the message gives the block away. */
static inline int32_t fb_msg_put_shm(fb_msg *m, uint32_t key, int32_t value) {
    if (value < 0) return FB_EINVAL;
    return fb_msg_put(m, FB_SCOPE_FUNCTIONAL, FB_TYPE_SHM, key, (uint32_t)value);
}

/* Checks buf[0 ..< len] by every rule of the decoder (dictionary offsets excepted: only the
   receiver's kernel knows its dictionary). FB_OK or FB_EBADMSG. The kernel checks every message
   it delivers, so a guest needs this only for bytes from elsewhere. */
static inline int32_t fb_msg_check(const void *buf, uint32_t len) {
    const uint8_t *b = (const uint8_t *)buf;
    if (b == 0 || len < FB_MSG_BYTES(0)) return FB_EBADMSG;
    uint32_t n = b[1];
    if (b[0] != FB_MSG_VERSION || n > FB_MSG_ENTRIES_MAX || b[2] != 0 || b[3] != 0) return FB_EBADMSG;
    if (len != FB_MSG_BYTES(n)) return FB_EBADMSG;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t tag = b[4 + 8 * i];
        uint32_t type = tag & 0x1Fu;
        if ((tag >> 5) > FB_SCOPE_DICTIONARY || type < FB_TYPE_I32 || type > FB_TYPE_SHM) return FB_EBADMSG;
    }
    const uint8_t *index = b + 4 + 8 * n;
    uint32_t seen = 0, previous = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t position = index[i];
        if (position >= n || (seen & (1u << position)) != 0) return FB_EBADMSG;
        seen |= 1u << position;
        uint32_t key = fb__sort_key(b + 4 + 8 * position);
        if (i > 0 && key <= previous) return FB_EBADMSG; /* unsorted or duplicate */
        previous = key;
    }
    return FB_OK;
}

/* Continues building a received (or earlier built) message of `len` bytes held in buf[0 ..< cap],
   e.g. to add an entry and pass it on. FB_EBADMSG if the bytes are not a valid message,
   FB_EMSGSIZE if len > cap. */
static inline int32_t fb_msg_from(fb_msg *m, void *buf, uint32_t cap, uint32_t len) {
    if (m == 0 || buf == 0) return FB_EINVAL;
    if (len > cap) return FB_EMSGSIZE;
    int32_t status = fb_msg_check(buf, len);
    if (status != FB_OK) return status;
    m->buf = (uint8_t *)buf;
    m->cap = cap;
    return FB_OK;
}

/* The entry count of the message in buf[0 ..< len], after checking its header and exact length;
   FB_EBADMSG if those are wrong. */
static inline int32_t fb_msg_count(const void *buf, uint32_t len) {
    const uint8_t *b = (const uint8_t *)buf;
    if (b == 0 || len < FB_MSG_BYTES(0)) return FB_EBADMSG;
    uint32_t n = b[1];
    if (b[0] != FB_MSG_VERSION || n > FB_MSG_ENTRIES_MAX || b[2] != 0 || b[3] != 0 || len != FB_MSG_BYTES(n)) {
        return FB_EBADMSG;
    }
    return (int32_t)n;
}

/* The entry at `position` in wire (insertion) order, for walking all entries. Any out pointer may
   be null. FB_ENOENT past the last entry, FB_EBADMSG for a bad header. */
static inline int32_t fb_msg_at(const void *buf, uint32_t len, uint32_t position,
                                uint32_t *scope, uint32_t *type, uint32_t *key, uint32_t *bits) {
    int32_t n = fb_msg_count(buf, len);
    if (n < 0) return n;
    if (position >= (uint32_t)n) return FB_ENOENT;
    const uint8_t *e = (const uint8_t *)buf + 4 + 8 * position;
    if (scope) *scope = (uint32_t)(e[0] >> 5);
    if (type) *type = e[0] & 0x1Fu;
    if (key) *key = fb__sort_key(e) & FB_MSG_KEY_MAX;
    if (bits) *bits = fb__load32(e + 4);
    return FB_OK;
}

/* Finds `key` of `scope` by binary search (lower_bound) over the sorted index.
   FB_OK with *type and *bits set (either may be null), FB_ENOENT if absent, FB_EBADMSG for a bad
   header or an index byte past the entries. O(log n): it trusts the index order, which the kernel
   has checked on delivery (fb_msg_check it first for bytes from elsewhere). */
static inline int32_t fb_msg_find(const void *buf, uint32_t len, uint32_t scope, uint32_t key,
                                  uint32_t *type, uint32_t *bits) {
    int32_t count = fb_msg_count(buf, len);
    if (count < 0) return count;
    if (scope > FB_SCOPE_DICTIONARY || key > FB_MSG_KEY_MAX) return FB_ENOENT;
    const uint8_t *b = (const uint8_t *)buf;
    uint32_t n = (uint32_t)count;
    const uint8_t *index = b + 4 + 8 * n;
    uint32_t target = scope << 24 | key;
    uint32_t low = 0, high = n;
    while (low < high) {
        uint32_t mid = (low + high) >> 1;
        if (index[mid] >= n) return FB_EBADMSG;
        if (fb__sort_key(b + 4 + 8 * index[mid]) < target) low = mid + 1; else high = mid;
    }
    if (low >= n) return FB_ENOENT;
    if (index[low] >= n) return FB_EBADMSG;
    const uint8_t *e = b + 4 + 8 * index[low];
    if (fb__sort_key(e) != target) return FB_ENOENT;
    if (type) *type = e[0] & 0x1Fu;
    if (bits) *bits = fb__load32(e + 4);
    return FB_OK;
}

/* Typed readers for functional-scope keys. FB_OK and *out set; FB_ENOENT if the key is absent;
   FB_EINVAL if the entry has another type (*out untouched); FB_EBADMSG for a bad header. */
static inline int32_t fb__get_typed(const void *buf, uint32_t len, uint32_t key, uint32_t want, uint32_t *bits) {
    uint32_t type = 0, found = 0;
    int32_t status = fb_msg_find(buf, len, FB_SCOPE_FUNCTIONAL, key, &type, &found);
    if (status != FB_OK) return status;
    if (type != want) return FB_EINVAL;
    *bits = found;
    return FB_OK;
}
static inline int32_t fb_msg_get_i32(const void *buf, uint32_t len, uint32_t key, int32_t *out) {
    uint32_t bits = 0;
    int32_t status = fb__get_typed(buf, len, key, FB_TYPE_I32, &bits);
    if (status == FB_OK && out) *out = (int32_t)bits;
    return status;
}
static inline int32_t fb_msg_get_u32(const void *buf, uint32_t len, uint32_t key, uint32_t *out) {
    uint32_t bits = 0;
    int32_t status = fb__get_typed(buf, len, key, FB_TYPE_U32, &bits);
    if (status == FB_OK && out) *out = bits;
    return status;
}
static inline int32_t fb_msg_get_f32(const void *buf, uint32_t len, uint32_t key, float *out) {
    uint32_t bits = 0;
    int32_t status = fb__get_typed(buf, len, key, FB_TYPE_F32, &bits);
    if (status == FB_OK && out) *out = fb__bits_f32(bits);
    return status;
}
/* The co_value handle carried under `key`: after a receive it is the receiver's to use. */
static inline int32_t fb_msg_get_shm(const void *buf, uint32_t len, uint32_t key, int32_t *out) {
    uint32_t bits = 0;
    int32_t status = fb__get_typed(buf, len, key, FB_TYPE_SHM, &bits);
    if (status == FB_OK && out) *out = (int32_t)bits;
    return status;
}

/* ---------------------------------------------------------------------------------------------
   Wrappers for C strings and messages.
   --------------------------------------------------------------------------------------------- */

static inline uint32_t fb_strlen(const char *s) {
    uint32_t n = 0;
    while (s[n] != 0) n++;
    return n;
}

static inline int32_t fb_serve(const char *uri) { return fb_channel_serve(uri, fb_strlen(uri)); }
static inline int32_t fb_open(const char *uri) { return fb_channel_open(uri, fb_strlen(uri)); }

/* Opens `uri`, retrying every millisecond while nobody serves it yet (FB_ENOENT), for at most
   timeout_ns (< 0: forever). Returns the handle, FB_ETIMEDOUT, or the first other error. */
static inline int32_t fb_open_wait(const char *uri, int64_t timeout_ns) {
    uint32_t len = fb_strlen(uri);
    int64_t start = fb_clock_ns();
    for (;;) {
        int32_t handle = fb_channel_open(uri, len);
        if (handle != FB_ENOENT) return handle;
        if (timeout_ns >= 0 && fb_clock_ns() - start >= timeout_ns) return FB_ETIMEDOUT;
        fb_sleep(1000000);
    }
}

/* Sends a built message; blocks until a receiver has taken it. */
static inline int32_t fb_send(int32_t handle, const fb_msg *m) {
    if (m == 0 || m->cap == 0) return FB_EINVAL;
    return fb_channel_send(handle, m->buf, fb_msg_len(m));
}

/* Receives one message into buf (cap >= FB_MSG_MAX always suffices); returns its length. */
static inline int32_t fb_recv(int32_t handle, void *buf, uint32_t cap) { return fb_channel_recv(handle, buf, cap); }

static inline int32_t fb_alt(const int32_t *handles, uint32_t count, int64_t timeout_ns, void *buf, uint32_t cap,
                             int32_t *ready_index) {
    return fb_channel_alt(handles, count, timeout_ns, buf, cap, ready_index);
}

static inline int32_t fb_close(int32_t handle) { return fb_channel_close(handle); }

static inline void fb_log_str(int32_t level, const char *text) { fb_log(level, text, fb_strlen(text)); }

/* Devices by C-string name: a handle, or FB_EPERM (not granted) / FB_ENOENT (no such device). */
static inline int32_t fb_device(const char *name) { return fb_device_open(name, fb_strlen(name)); }

/* An ioctl with up to four (key, u32 value) parameters after FB_IO_OP (a key of 0 is left out);
   the reply's FB_IO_VALUE, if any, goes to *value. FB_OK or an error. */
static inline int32_t fb_ioctl4(int32_t device, uint32_t op, uint32_t k1, uint32_t v1, uint32_t k2, uint32_t v2,
                                uint32_t k3, uint32_t v3, uint32_t k4, uint32_t v4, uint32_t *value) {
    uint8_t request[FB_MSG_BYTES(5)], reply[FB_MSG_MAX];
    fb_msg m;
    fb_msg_init(&m, request, sizeof request);
    fb_msg_put_u32(&m, FB_IO_OP, op);
    if (k1) fb_msg_put_u32(&m, k1, v1);
    if (k2) fb_msg_put_u32(&m, k2, v2);
    if (k3) fb_msg_put_u32(&m, k3, v3);
    if (k4) fb_msg_put_u32(&m, k4, v4);
    int32_t length = fb_device_ioctl(device, request, fb_msg_len(&m), reply, sizeof reply);
    if (length < 0) return length;
    if (value && fb_msg_get_u32(reply, (uint32_t)length, FB_IO_VALUE, value) != FB_OK) *value = 0;
    return FB_OK;
}
static inline int32_t fb_ioctl(int32_t device, uint32_t op, uint32_t key, uint32_t v, uint32_t *value) {
    return fb_ioctl4(device, op, key, v, 0, 0, 0, 0, 0, 0, value);
}

/* Writes all of `len` bytes, FB_DEVICE_IO_MAX at a time: FB_OK or the first error. */
static inline int32_t fb_device_write_all(int32_t device, const void *buf, uint32_t len) {
    const uint8_t *bytes = (const uint8_t *)buf;
    while (len > 0) {
        int32_t n = fb_device_write(device, bytes, len);
        if (n < 0) return n;
        if (n == 0) return FB_EIO;
        bytes += n;
        len -= (uint32_t)n;
    }
    return FB_OK;
}

/* ---------------------------------------------------------------------------------------------
   A small text builder for log lines, since there is no printf without libc:
     char line[80]; fb_text t; fb_text_init(&t, line, sizeof line);
     fb_text_str(&t, "seq "); fb_text_i32(&t, seq); fb_log_text(FB_INFO, &t);
   Text past the buffer is dropped.
   --------------------------------------------------------------------------------------------- */

typedef struct fb_text {
    char *buf;
    uint32_t len;
    uint32_t cap;
} fb_text;

static inline void fb_text_init(fb_text *t, char *buf, uint32_t cap) {
    t->buf = buf;
    t->len = 0;
    t->cap = cap;
}

static inline void fb_text_char(fb_text *t, char c) {
    if (t->len < t->cap) t->buf[t->len++] = c;
}

static inline void fb_text_str(fb_text *t, const char *s) {
    while (*s != 0) fb_text_char(t, *s++);
}

static inline void fb_text_u64(fb_text *t, uint64_t v) {
    char digits[20];
    uint32_t n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    while (n > 0) fb_text_char(t, digits[--n]);
}

static inline void fb_text_u32(fb_text *t, uint32_t v) { fb_text_u64(t, v); }

static inline void fb_text_i32(fb_text *t, int32_t v) {
    if (v < 0) fb_text_char(t, '-');
    fb_text_u64(t, v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v);
}

/* `decimals` (0..6) digits after the point, rounded; "nan", "inf" and "huge" (>= 2^32) as words. */
static inline void fb_text_f32(fb_text *t, float v, uint32_t decimals) {
    if (v != v) { fb_text_str(t, "nan"); return; }
    if (v < 0) { fb_text_char(t, '-'); v = -v; }
    if (v >= 4294967296.0f) { fb_text_str(t, v > 3.40282347e38f ? "inf" : "huge"); return; }
    if (decimals > 6) decimals = 6;
    uint64_t scale = 1;
    for (uint32_t i = 0; i < decimals; i++) scale *= 10;
    uint64_t fixed = (uint64_t)((double)v * (double)scale + 0.5);
    fb_text_u64(t, fixed / scale);
    if (decimals == 0) return;
    fb_text_char(t, '.');
    uint64_t fraction = fixed % scale;
    for (uint64_t digit = scale / 10; digit > 0; digit /= 10) {
        fb_text_char(t, (char)('0' + (int)(fraction / digit % 10)));
    }
}

static inline void fb_log_text(int32_t level, const fb_text *t) { fb_log(level, t->buf, t->len); }

/* Logs "<prefix><what>[ <number>][: <error>]"; a negative number and FB_OK are left out. The
   progress-and-error line every example guest writes. */
static inline void fb_log_report(int32_t level, const char *prefix, const char *what, int64_t number, int32_t code) {
    char line[96];
    fb_text t;
    fb_text_init(&t, line, sizeof line);
    fb_text_str(&t, prefix);
    fb_text_str(&t, what);
    if (number >= 0) {
        fb_text_char(&t, ' ');
        fb_text_u64(&t, (uint64_t)number);
    }
    if (code != FB_OK) {
        fb_text_str(&t, ": ");
        fb_text_str(&t, fb_strerror(code));
    }
    fb_log_text(level, &t);
}

#ifdef __cplusplus
}
#endif

#endif /* FIREBALL_H */
