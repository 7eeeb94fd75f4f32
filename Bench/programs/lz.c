/* An LZ77 compressor (hash of 4 bytes, greedy matches, literal runs) and its decompressor, round
   trip over 2 MiB of generated text-like data, `reps` times: byte loads and stores, hashing,
   unpredictable branches, short copies. The checksum folds the compressed sizes and the output. */
#include "bench.h"
#define N (2u << 20)
#define HBITS 15
static u8 input[N], packed[N + N / 8 + 64], output[N];
static u32 heads[1 << HBITS];
static const char *words[16] = {"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ",
                                "wasm ", "kernel ", "channel ", "board ", "node ", "guest ", "slice ", "router "};
static u32 hash4(const u8 *p) { u32 v = p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24; return (v * 2654435761u) >> (32 - HBITS); }
static u32 compress(void) {
    for (u32 i = 0; i < (1u << HBITS); i++) heads[i] = 0xFFFFFFFFu;
    u32 i = 0, o = 0, lit = 0;
    while (i + 4 <= N) {
        u32 h = hash4(input + i), cand = heads[h];
        heads[h] = i;
        u32 len = 0;
        if (cand != 0xFFFFFFFFu && i - cand < 65536) while (i + len < N && len < 255 + 4 && input[cand + len] == input[i + len]) len++;
        if (len >= 4) {
            if (lit) { packed[o++] = 0; packed[o++] = (u8)lit; for (u32 k = i - lit; k < i; k++) packed[o++] = input[k]; lit = 0; }
            u32 dist = i - cand;
            packed[o++] = (u8)(len - 3); packed[o++] = (u8)dist; packed[o++] = (u8)(dist >> 8);
            i += len;
        } else {
            i++; lit++;
            if (lit == 255) { packed[o++] = 0; packed[o++] = 255; for (u32 k = i - lit; k < i; k++) packed[o++] = input[k]; lit = 0; }
        }
    }
    lit += N - i; i = N;
    while (lit) { u32 run = lit > 255 ? 255 : lit; packed[o++] = 0; packed[o++] = (u8)run; for (u32 k = i - lit; k < i - lit + run; k++) packed[o++] = input[k]; lit -= run; }
    return o;
}
static u32 decompress(u32 size) {
    u32 i = 0, o = 0;
    while (i < size) {
        u32 tag = packed[i++];
        if (tag == 0) { u32 run = packed[i++]; while (run--) output[o++] = packed[i++]; }
        else { u32 len = tag + 3, dist = packed[i] | packed[i + 1] << 8; i += 2; while (len--) { output[o] = output[o - dist]; o++; } }
    }
    return o;
}
EXPORT("run") i64 run(int reps) {
    u32 seed = 7;
    for (u32 i = 0; i < N;) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) & 15];
        if ((seed >> 8 & 31) == 0) { input[i++] = (u8)(seed >> 3); continue; }
        while (*w && i < N) input[i++] = (u8)*w++;
    }
    u64 sum = 0;
    for (int r = 0; r < reps; r++) {
        input[(u32)r * 7919u % N] ^= 0x55;
        u32 size = compress();
        if (decompress(size) != N) return -1;
        u32 h = 2166136261u;
        for (u32 i = 0; i < N; i++) { if (output[i] != input[i]) return -2; h = (h ^ output[i]) * 16777619u; }
        sum = sum * 1000003 + size + h;
    }
    return CHECKSUM(sum);
}
