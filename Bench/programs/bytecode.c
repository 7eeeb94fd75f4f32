/* A small stack-machine interpreter (a `switch` over opcodes: wasm's br_table) running a program
   that counts the primes below 50,000 + r by trial division, for r below `reps`. */
#include "bench.h"
enum { PUSH, LOAD, STORE, ADD, SUB, MUL, MOD, LT, JZ, JMP, INC, HALT, DUP, DROP };
static const int program[] = {
    /* 0: n = 2 */        PUSH, 2, STORE, 0,
    /* 4: loop n */       LOAD, 0, LOAD, 3, LT, JZ, 49,
    /* 11: d = 2 */       PUSH, 2, STORE, 1,
    /* 15: d*d <= n? */   LOAD, 1, LOAD, 1, MUL, LOAD, 0, PUSH, 1, ADD, LT, JZ, 43,
    /* 28: n % d == 0? */ LOAD, 0, LOAD, 1, MOD, JZ, 45,
    /* 35: d++ */         INC, 1, JMP, 15, HALT, HALT, HALT, HALT,
    /* 43: prime */       INC, 2,
    /* 45: next n */      INC, 0, JMP, 4,
    /* 49: end */         HALT,
};
static int run_vm(int bound) {
    int vars[4] = {0, 0, 0, bound}, stack[64], sp = 0, pc = 0;
    for (;;) {
        switch (program[pc++]) {
        case PUSH: stack[sp++] = program[pc++]; break;
        case LOAD: stack[sp++] = vars[program[pc++]]; break;
        case STORE: vars[program[pc++]] = stack[--sp]; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case MOD: sp--; stack[sp - 1] %= stack[sp]; break;
        case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case JZ: { int t = program[pc++]; if (!stack[--sp]) pc = t; break; }
        case JMP: pc = program[pc]; break;
        case INC: vars[program[pc++]]++; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case DROP: sp--; break;
        default: return vars[2];
        }
    }
}
EXPORT("run") i64 run(int reps) {
    i64 sum = 0;
    for (int r = 0; r < reps; r++) sum = sum * 7 + run_vm(50000 + r);
    return CHECKSUM(sum);
}
