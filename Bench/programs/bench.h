/* Common glue: every benchmark exports `long long run(int)`, whose result is the
   benchmark's checksum. Without __wasm__ the same sources build natively. */
#ifndef BENCH_H
#define BENCH_H
#if defined(__wasm__)
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;
/* keep results positive so every CLI prints the same decimal number */
#define CHECKSUM(x) ((i64)((u64)(x) & 0x7fffffffffffffffULL))
#endif
