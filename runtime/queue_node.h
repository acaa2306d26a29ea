/* The link every queued item carries (a task embeds one). Queues hold items by
 * this node, so the queues can be tested and model-checked without tasks. */
#ifndef ORCA_RUNTIME_QUEUE_NODE_H
#define ORCA_RUNTIME_QUEUE_NODE_H

#include <stddef.h>

typedef struct orca__qnode {
	struct orca__qnode *next;
} orca__qnode;

#define orca__container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
