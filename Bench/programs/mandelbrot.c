/* The Mandelbrot set on a 640x480 grid, at most 500 iterations a point, `reps` times over a
   shifting window: f64 multiply-add in tight data-dependent loops. */
#include "bench.h"
EXPORT("run") i64 run(int reps) {
    u64 total = 0;
    for (int r = 0; r < reps; r++) {
        double x0 = -2.2 + r * 0.001, y0 = -1.2;
        for (int py = 0; py < 480; py++)
            for (int px = 0; px < 640; px++) {
                double cr = x0 + px * (3.2 / 640), ci = y0 + py * (2.4 / 480), zr = 0, zi = 0;
                int k = 0;
                while (k < 500 && zr * zr + zi * zi <= 4.0) { double t = zr * zr - zi * zi + cr; zi = 2 * zr * zi + ci; zr = t; k++; }
                total += (u64)k * (u64)(px ^ py);
            }
    }
    return CHECKSUM(total);
}
