#include "counting_waker.h"

#include "fuzz_support.h"

static uint32_t wake_log[WAKE_LOG_MAX];
static size_t wake_log_n;

static const orca_waker_vtable counting_vtable;

static counting_waker *of(const void *data)
{
	return (counting_waker *)(uintptr_t)data;
}

static void record_wake(counting_waker *w)
{
	w->wakes++;
	if (wake_log_n < WAKE_LOG_MAX)
		wake_log[wake_log_n] = w->tag;
	wake_log_n++;
}

static void consume_clone(counting_waker *w, const char *how)
{
	FUZZ_CHECK(w->clones > 0, "waker %u %s more often than it was cloned", w->tag, how);
	w->clones--;
}

static orca_waker counting_clone(const void *data)
{
	of(data)->clones++;
	return (orca_waker){&counting_vtable, data};
}

static void counting_wake(const void *data)
{
	consume_clone(of(data), "woken (consumed)");
	record_wake(of(data));
}

static void counting_wake_by_ref(const void *data)
{
	/* No clone needed: a poll may wake its borrowed waker. */
	record_wake(of(data));
}

static void counting_drop(const void *data)
{
	consume_clone(of(data), "dropped");
}

static const orca_waker_vtable counting_vtable = {
	.clone = counting_clone,
	.wake = counting_wake,
	.wake_by_ref = counting_wake_by_ref,
	.drop = counting_drop,
};

void counting_waker_init(counting_waker *w, uint32_t tag)
{
	w->tag = tag;
	w->wakes = 0;
	w->clones = 0;
}

orca_waker counting_waker_ref(counting_waker *w)
{
	return (orca_waker){&counting_vtable, w};
}

void wake_log_reset(void)
{
	wake_log_n = 0;
}

size_t wake_log_len(void)
{
	return wake_log_n;
}

uint32_t wake_log_at(size_t i)
{
	return wake_log[i];
}
