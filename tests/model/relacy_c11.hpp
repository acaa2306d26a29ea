/* C11 <stdatomic.h> on top of relacy, so that the runtime's own C files compile,
 * unchanged, into a relacy model.
 *
 * Every model target force-includes this header (-include) into:
 *  - copies of the runtime's .c and .h files made at build time by transform_c11.cmake,
 *    whose only edit is `_Atomic T` -> `_Atomic(T)` (C++ has no qualifier form),
 *    compiled as C++;
 *  - the model's own .cc file.
 * Each atomic operation of the real code then becomes a relacy operation with the same
 * memory order, at the same call site (relacy's history names the runtime's file and line).
 *
 * Weakening: a model run with `--weaken FUNC:OP:FROM:TO` downgrades the memory order
 * of the operations of kind OP with order FROM inside the real function FUNC (for
 * example `orca__rq_push_back_owner:store:release:relaxed`). Nothing else changes: the
 * weakened run checks the same code with exactly that ordering weakened, and must fail.
 * The run also counts how often the rule applied, so a rule that matches nothing (the
 * code moved) is reported instead of passing for a detected failure.
 *
 * Also here: malloc/calloc/free (relacy tracks leaks and double frees), pthread mutexes
 * (relacy's, so a lock gives happens-before), a futex for sync/lock.c and the models'
 * sleeping threads (relacy's futex semantics: value check and sleep atomic w.r.t. wake,
 * spurious wake-ups, timeouts), and orca__panic (a runtime invariant check that fires
 * is a model failure).
 */
#ifndef ORCA_MODEL_RELACY_C11_HPP
#define ORCA_MODEL_RELACY_C11_HPP

/* Everything the runtime's C files include, before relacy's macros (malloc, free,
 * errno, pthread_*) are defined. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <relacy/relacy.hpp>

/* Our header guard for <stdatomic.h>: tests/model/shim/stdatomic.h is empty and wins the
 * include search, so the compiler's C header is never seen by C++. */

#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst
#define memory_order_relaxed ::rl::mo_relaxed
#define memory_order_consume ::rl::mo_consume
#define memory_order_acquire ::rl::mo_acquire
#define memory_order_release ::rl::mo_release
#define memory_order_acq_rel ::rl::mo_acq_rel
#define memory_order_seq_cst ::rl::mo_seq_cst

#define _Atomic(T) ::rl::atomic<T>
#define _Alignas(n) alignas(n)

namespace orca_model {

enum op_kind { OP_LOAD, OP_STORE, OP_CAS, OP_XCHG, OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR, OP_COUNT };

inline const char *op_name(op_kind k)
{
	static const char *const names[OP_COUNT] = {"load", "store", "cas", "xchg", "add",
						    "sub", "and", "or", "xor"};
	return names[k];
}

inline const char *mo_name(rl::memory_order mo)
{
	switch (mo) {
	case rl::mo_relaxed: return "relaxed";
	case rl::mo_consume: return "consume";
	case rl::mo_acquire: return "acquire";
	case rl::mo_release: return "release";
	case rl::mo_acq_rel: return "acq_rel";
	case rl::mo_seq_cst: return "seq_cst";
	}
	return "?";
}

inline bool parse_mo(const std::string &s, rl::memory_order *mo)
{
	static const rl::memory_order all[] = {rl::mo_relaxed, rl::mo_consume, rl::mo_acquire,
					       rl::mo_release, rl::mo_acq_rel, rl::mo_seq_cst};
	for (rl::memory_order m : all)
		if (s == mo_name(m)) {
			*mo = m;
			return true;
		}
	return false;
}

/* One --weaken rule. Plain globals: they are not shared state of the model (set before
 * the simulation, only counted during it). */
struct weakening {
	std::string func;
	op_kind op = OP_LOAD;
	rl::memory_order from = rl::mo_seq_cst, to = rl::mo_seq_cst;
	unsigned long hits = 0;
	bool active = false;
};

inline weakening &weak()
{
	static weakening w;
	return w;
}

/* "FUNC:OP:FROM:TO" */
inline bool set_weakening(const std::string &spec)
{
	weakening &w = weak();
	std::vector<std::string> parts;
	size_t start = 0;
	for (;;) {
		size_t c = spec.find(':', start);
		parts.push_back(spec.substr(start, c == std::string::npos ? c : c - start));
		if (c == std::string::npos)
			break;
		start = c + 1;
	}
	if (parts.size() != 4)
		return false;
	w.func = parts[0];
	bool found = false;
	for (int k = 0; k < OP_COUNT; k++)
		if (parts[1] == op_name((op_kind)k)) {
			w.op = (op_kind)k;
			found = true;
		}
	if (!found || !parse_mo(parts[2], &w.from) || !parse_mo(parts[3], &w.to))
		return false;
	w.active = true;
	return true;
}

inline rl::memory_order apply(op_kind op, rl::memory_order mo, const char *func)
{
	weakening &w = weak();
	if (w.active && w.op == op && w.from == mo && w.func == func) {
		w.hits++;
		return w.to;
	}
	return mo;
}

/* A CAS's failure order may be no stronger than its success order minus release. */
inline rl::memory_order clamp_failure(rl::memory_order success, rl::memory_order failure)
{
	rl::memory_order cap = success;
	if (success == rl::mo_acq_rel)
		cap = rl::mo_acquire;
	else if (success == rl::mo_release)
		cap = rl::mo_relaxed;
	auto rank = [](rl::memory_order m) {
		return m == rl::mo_relaxed ? 0 : m == rl::mo_seq_cst ? 2 : 1;
	};
	return rank(failure) > rank(cap) ? cap : failure;
}

/* The second parameter is never deduced: `atomic_store_explicit(&slot, NULL, ...)`. */
template <class T> struct same { typedef T type; };

template <class T>
inline void init(rl::atomic<T> *obj, typename same<T>::type v, rl::debug_info_param info)
{
	obj->store(v, rl::mo_relaxed, info);
}

template <class T>
inline T load(const rl::atomic<T> *obj, rl::memory_order mo, const char *func,
	      rl::debug_info_param info)
{
	return obj->load(apply(OP_LOAD, mo, func), info);
}

template <class T>
inline void store(rl::atomic<T> *obj, typename same<T>::type v, rl::memory_order mo,
		  const char *func, rl::debug_info_param info)
{
	obj->store(v, apply(OP_STORE, mo, func), info);
}

template <class T>
inline bool cas(bool weak_cas, rl::atomic<T> *obj, T *expected, typename same<T>::type desired,
		rl::memory_order success, rl::memory_order failure, const char *func,
		rl::debug_info_param info)
{
	rl::memory_order s = apply(OP_CAS, success, func);
	rl::memory_order f = clamp_failure(s, failure);
	return weak_cas ? obj->compare_exchange_weak(*expected, desired, s, info, f, info)
			: obj->compare_exchange_strong(*expected, desired, s, info, f, info);
}

template <class T>
inline T xchg(rl::atomic<T> *obj, typename same<T>::type v, rl::memory_order mo, const char *func,
	      rl::debug_info_param info)
{
	return obj->exchange(v, apply(OP_XCHG, mo, func), info);
}

#define ORCA_MODEL_RMW(name, kind, method)                                                        \
	template <class T>                                                                      \
	inline T name(rl::atomic<T> *obj, typename same<T>::type v, rl::memory_order mo,      \
		      const char *func, rl::debug_info_param info)                              \
	{                                                                                       \
		return obj->method(v, apply(kind, mo, func), info);                             \
	}
ORCA_MODEL_RMW(fetch_add, OP_ADD, fetch_add)
ORCA_MODEL_RMW(fetch_sub, OP_SUB, fetch_sub)
ORCA_MODEL_RMW(fetch_and, OP_AND, fetch_and)
ORCA_MODEL_RMW(fetch_or, OP_OR, fetch_or)
ORCA_MODEL_RMW(fetch_xor, OP_XOR, fetch_xor)
#undef ORCA_MODEL_RMW

/* calloc's void * converts to any object pointer, as in C. */
struct c_void_ptr {
	void *p;
	template <class T> operator T *() const
	{
		return static_cast<T *>(p);
	}
};

} // namespace orca_model

#define atomic_init(obj, v) ::orca_model::init((obj), (v), RL_INFO)
#define atomic_load_explicit(obj, mo) ::orca_model::load((obj), (mo), __func__, RL_INFO)
#define atomic_store_explicit(obj, v, mo) ::orca_model::store((obj), (v), (mo), __func__, RL_INFO)
#define atomic_exchange_explicit(obj, v, mo) ::orca_model::xchg((obj), (v), (mo), __func__, RL_INFO)
#define atomic_compare_exchange_strong_explicit(obj, exp, des, s, f)                              \
	::orca_model::cas(false, (obj), (exp), (des), (s), (f), __func__, RL_INFO)
#define atomic_compare_exchange_weak_explicit(obj, exp, des, s, f)                                \
	::orca_model::cas(true, (obj), (exp), (des), (s), (f), __func__, RL_INFO)
#define atomic_fetch_add_explicit(obj, v, mo) ::orca_model::fetch_add((obj), (v), (mo), __func__, RL_INFO)
#define atomic_fetch_sub_explicit(obj, v, mo) ::orca_model::fetch_sub((obj), (v), (mo), __func__, RL_INFO)
#define atomic_fetch_and_explicit(obj, v, mo) ::orca_model::fetch_and((obj), (v), (mo), __func__, RL_INFO)
#define atomic_fetch_or_explicit(obj, v, mo) ::orca_model::fetch_or((obj), (v), (mo), __func__, RL_INFO)
#define atomic_fetch_xor_explicit(obj, v, mo) ::orca_model::fetch_xor((obj), (v), (mo), __func__, RL_INFO)

#undef calloc
#define calloc(n, size) (::orca_model::c_void_ptr{rl::rl_calloc((n), (size), $)})

/* The futex: FUTEX_WAIT, FUTEX_WAIT_BITSET and FUTEX_WAKE on an _Atomic uint32_t,
 * with relacy's futex semantics (rl_int_futex_impl), on our word type
 * (model_support.hpp). Errors come back as -1 with errno, as from syscall(2). */
extern "C++" long orca_model_syscall(long nr, ...);
#define syscall orca_model_syscall

#endif
