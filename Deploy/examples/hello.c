/* hello: an ordinary C program on wasi-libc, to show the WASI subset: printf to the console
   (stdout and stderr), arguments, the clock, random bytes, and the exit code.
   Built against a wasi-libc sysroot (build.sh); starts at the `_start` that wasi-libc provides. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("hello from wasi-libc with %d argument(s)\n", argc);
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) { fprintf(stderr, "hello: no clock\n"); return 2; }
    unsigned char random[4];
    if (getentropy(random, sizeof random) != 0) { fprintf(stderr, "hello: no random bytes\n"); return 3; }
    printf("clock %lld.%09ld s, random %02x%02x%02x%02x\n", (long long)now.tv_sec, now.tv_nsec,
           random[0], random[1], random[2], random[3]);
    /* The exit code is the first argument (default 0): the node reports it as the guest's end. */
    int status = argc > 1 ? atoi(argv[1]) : 0;
    fprintf(stderr, "hello: exiting with %d\n", status);
    return status;
}
