/* Force-included (after relacy_c11.hpp) into the run queue model and into its copy of
 * runtime/run_queue.c: the queue shrunk to 4 slots, as Tokio's loom builds do, so that
 * wrap-around and overflow to the inject queue happen within a few operations. The
 * struct keeps its ORCA_TESTING size (16 slots); the code only uses the first 4. */
#include "run_queue.h"
#undef ORCA_RUN_QUEUE_CAP
#define ORCA_RUN_QUEUE_CAP 4u
