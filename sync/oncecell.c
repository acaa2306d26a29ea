/* OnceCell (Tokio's): a one-permit semaphore decides who initializes. The holder of
 * the permit runs the initializer; on success it publishes the value, marks the
 * cell set and closes the semaphore, which releases every waiter (-EPIPE from the
 * semaphore means "set"); on failure it gives the permit back and the next waiter
 * tries. An initializer's task that is aborted gets -ECANCELED from its awaits,
 * fails, and so hands over the same way. */
#include <errno.h>

#include "sem.h"
#include "wait.h"

enum { CELL_EMPTY = 0, CELL_SET = 1 };

typedef struct ORCA__MAY_ALIAS cell_impl {
	orca__sem sem; /* first: ORCA_ONCECELL_INIT gives it one permit */
	_Atomic uint32_t state;
	uint32_t unused;
	intptr_t value; /* written once, before state becomes SET */
} cell_impl;

_Static_assert(sizeof(orca_oncecell) >= sizeof(cell_impl), "orca_oncecell too small");

static cell_impl *impl_of(orca_oncecell *c)
{
	return (cell_impl *)(void *)c;
}

int orca_oncecell_init(orca_oncecell *c)
{
	if (!c)
		return -EINVAL;
	cell_impl *ci = impl_of(c);
	orca__sem_init(&ci->sem, 1);
	atomic_init(&ci->state, CELL_EMPTY);
	ci->unused = 0;
	ci->value = 0;
	return 0;
}

static bool cell_get(cell_impl *ci, intptr_t *value)
{
	/* Acquire: pairs with the release in cell_publish, so value is complete. */
	if (atomic_load_explicit(&ci->state, memory_order_acquire) != CELL_SET)
		return false;
	if (value)
		*value = ci->value;
	return true;
}

/* Called by the permit holder. */
static void cell_publish(cell_impl *ci, intptr_t v)
{
	ci->value = v;
	atomic_store_explicit(&ci->state, CELL_SET, memory_order_release);
	orca__sem_close(&ci->sem);
}

int orca_oncecell_get(orca_oncecell *c, intptr_t *value)
{
	if (!c)
		return -EINVAL;
	return cell_get(impl_of(c), value) ? 0 : -EAGAIN;
}

int orca_oncecell_set(orca_oncecell *c, intptr_t value)
{
	if (!c)
		return -EINVAL;
	cell_impl *ci = impl_of(c);
	int r = orca__sem_try_acquire(&ci->sem, 1);
	if (r == -EPIPE)
		return -EEXIST;
	if (r != 0)
		return -EBUSY;
	cell_publish(ci, value);
	return 0;
}

int orca_oncecell_get_or_init(orca_oncecell *c, orca_oncecell_init_fn init, void *arg,
			      intptr_t *value)
{
	if (!c || !init)
		return -EINVAL;
	cell_impl *ci = impl_of(c);
	if (cell_get(ci, value))
		return 0;
	orca__sem_acquire f;
	int r = (int)orca__sync_wait_blocking(orca__sem_acquire_init(&f, &ci->sem, 1, "oncecell"), -1);
	if (r == -EPIPE)
		return cell_get(ci, value) ? 0 : -EPIPE;
	if (r < 0)
		return r;
	intptr_t v = 0;
	r = init(arg, &v);
	if (r < 0) {
		orca__sem_release(&ci->sem, 1);
		return r;
	}
	cell_publish(ci, v);
	if (value)
		*value = v;
	return 0;
}
