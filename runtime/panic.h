/* Broken internal invariants end the process with a message that names them. */
#ifndef ORCA_RUNTIME_PANIC_H
#define ORCA_RUNTIME_PANIC_H

/* Writes "orca: <msg>" to stderr and aborts. Async-signal-safe. */
__attribute__((noreturn, cold)) void orca__panic(const char *msg);

#endif
