/* Recursive quicksort (median of three, insertion sort below 16) of 1M generated int32s, `reps`
   times over fresh data: calls, compares, loads and stores in a data-dependent order. */
#include "bench.h"
#define N (1u << 20)
static int a[N];
static void insertion(int *v, int n) {
    for (int i = 1; i < n; i++) {
        int x = v[i], j = i - 1;
        while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j--; }
        v[j + 1] = x;
    }
}
__attribute__((noinline)) static void sort(int *v, int n) {
    while (n > 16) {
        int m = n / 2, last = n - 1;
        if (v[m] < v[0]) { int t = v[m]; v[m] = v[0]; v[0] = t; }
        if (v[last] < v[0]) { int t = v[last]; v[last] = v[0]; v[0] = t; }
        if (v[last] < v[m]) { int t = v[last]; v[last] = v[m]; v[m] = t; }
        int pivot = v[m], i = 0, j = last;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) { int t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        /* recurse into the smaller part, loop on the larger: the depth stays logarithmic */
        if (j + 1 < n - i) { sort(v, j + 1); v += i; n -= i; } else { sort(v + i, n - i); n = j + 1; }
    }
    insertion(v, n);
}
EXPORT("run") i64 run(int reps) {
    u64 sum = 0;
    u32 seed = 42;
    for (int r = 0; r < reps; r++) {
        for (u32 i = 0; i < N; i++) { seed = seed * 1664525u + 1013904223u; a[i] = (int)(seed >> 1) - (1 << 30); }
        sort(a, N);
        for (u32 i = 1; i < N; i++) if (a[i - 1] > a[i]) return -1;
        for (u32 i = 0; i < N; i += 997) sum = sum * 33 + (u32)a[i];
    }
    return CHECKSUM(sum);
}
