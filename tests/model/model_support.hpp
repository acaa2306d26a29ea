/* What every relacy model shares: the runtime's panic and futex under relacy, and the
 * model's main(). Included once, by the model's own .cc file. */
#ifndef ORCA_MODEL_SUPPORT_HPP
#define ORCA_MODEL_SUPPORT_HPP

#include "panic.h"

/* A runtime invariant check that fires is a model failure, with the runtime's message. */
void orca__panic(const char *msg)
{
	rl::ctx().fail_test(msg, rl::test_result_user_assert_failed, RL_INFO);
	for (;;)
		::abort(); /* not reached: fail_test leaves this thread for good */
}

namespace orca_model {

/* A futex on an rl::atomic<uint32_t>, with relacy's futex semantics
 * (rl_int_futex_impl): the wait sleeps only if the word still holds val (the check and
 * the sleep are atomic with respect to the wake), may time out only if timed, and may
 * wake spuriously only if spurious. Returns 0 when woken, else -1 with errno EAGAIN
 * (the word did not hold val), ETIMEDOUT or EINTR (spurious). */
inline int futex_wait(rl::atomic<uint32_t> *word, uint32_t val, bool timed, bool spurious)
{
	rl::context &c = rl::ctx();
	c.sched();
	c.atomic_thread_fence_seq_cst();
	uint32_t v;
	{
		rl::preemption_disabler pd(c);
		v = word->load(rl::mo_acquire, $);
	}
	if (v != val) {
		rl::set_errno(EAGAIN);
		return -1;
	}
	rl::unpark_reason r = word->wait(c, timed, spurious, $);
	if (r == rl::unpark_reason_normal)
		return 0;
	rl::set_errno(r == rl::unpark_reason_timeout ? ETIMEDOUT : EINTR);
	return -1;
}

/* Wakes up to n threads sleeping on word; returns how many. */
inline int futex_wake(rl::atomic<uint32_t> *word, unsigned n)
{
	rl::context &c = rl::ctx();
	c.sched();
	c.atomic_thread_fence_seq_cst();
	return word->wake(c, n, $);
}

} // namespace orca_model

/* The futex calls of the code under model (sync/lock.c): FUTEX_WAIT and
 * FUTEX_WAIT_BITSET (a timeout or deadline: may time out) may also wake spuriously,
 * as the kernel's may. */
long orca_model_syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	uint32_t *uaddr = va_arg(ap, uint32_t *);
	int op = va_arg(ap, int);
	unsigned val = va_arg(ap, unsigned);
	const struct timespec *ts = va_arg(ap, const struct timespec *);
	va_end(ap);
	RL_ASSERT(nr == SYS_futex);
	rl::atomic<uint32_t> *word = reinterpret_cast<rl::atomic<uint32_t> *>(uaddr);
	switch (op & FUTEX_CMD_MASK) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		return orca_model::futex_wait(word, val, ts != NULL, true);
	case FUTEX_WAKE:
		return orca_model::futex_wake(word, val);
	}
	RL_ASSERT(!"futex op the model does not know");
	return -1;
}

namespace orca_model {

struct options {
	unsigned long iterations = 0;
	rl::scheduler_type_e scheduler = rl::sched_random;
	unsigned context_bound = 0;
	bool full_history = false;
	std::string weaken;
};

inline void usage(const char *prog)
{
	std::cerr << "usage: " << prog
		  << " [--iterations N] [--scheduler random|bound|full] [--context-bound N]"
		     " [--weaken FUNC:OP:FROM:TO] [--history]\n"
		     "  OP: load store cas xchg add sub and or xor;"
		     " FROM/TO: relaxed acquire release acq_rel seq_cst\n"
		     "  With --weaken the run must FAIL: exit 0 only if the checker reports a\n"
		     "  failure and the rule applied to at least one operation.\n";
}

inline bool parse(int argc, char **argv, options &o)
{
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		bool more = i + 1 < argc;
		if (a == "--iterations" && more)
			o.iterations = std::stoul(argv[++i]);
		else if (a == "--scheduler" && more) {
			std::string s = argv[++i];
			if (s == "random")
				o.scheduler = rl::sched_random;
			else if (s == "bound")
				o.scheduler = rl::sched_bound;
			else if (s == "full")
				o.scheduler = rl::sched_full;
			else
				return false;
		} else if (a == "--context-bound" && more)
			o.context_bound = (unsigned)std::stoul(argv[++i]);
		else if (a == "--weaken" && more)
			o.weaken = argv[++i];
		else if (a == "--history")
			o.full_history = true;
		else
			return false;
	}
	return true;
}

/* A stream buffer over a fixed array: relacy replaces operator new and hands out its
 * own memory while a simulation runs, so the streams it writes to must not allocate.
 * What does not fit is dropped. */
struct fixed_buf : std::streambuf {
	static const size_t size = 4u << 20;
	std::vector<char> mem;
	fixed_buf() : mem(size)
	{
		setp(mem.data(), mem.data() + mem.size());
	}
	int overflow(int c) override
	{
		return c == EOF ? 0 : EOF;
	}
	std::string str() const
	{
		return std::string(pbase(), pptr());
	}
};

/* Prints at most max_lines of s. */
inline void print_capped(const std::string &s, unsigned max_lines)
{
	std::istringstream in(s);
	std::string line;
	unsigned n = 0;
	while (std::getline(in, line)) {
		if (n++ == max_lines) {
			std::cout << "... (history cut; run with --history for all of it)\n";
			return;
		}
		std::cout << line << '\n';
	}
}

/* One scenario of a model: a relacy test suite, the context bound of its exhaustive
 * pass (every interleaving with at most that many preemptions; 0: none) and the
 * interleavings of its random pass (0: none). */
struct scenario {
	const char *name;
	bool (*simulate)(rl::test_params &);
	unsigned bound;
	unsigned long iterations;
};

template <class Test>
scenario make_scenario(const char *name, unsigned bound, unsigned long iterations)
{
	return scenario{name, &rl::simulate<Test>, bound, iterations};
}

struct pass {
	rl::scheduler_type_e scheduler;
	unsigned bound;
	unsigned long iterations;
};

/* Runs one pass of one scenario; true if relacy found a failure. */
inline bool run_pass(const char *model, const scenario &sc, const pass &ps, const options &o,
		     unsigned long *total)
{
	rl::test_params p;
	fixed_buf out_buf, progress_buf;
	std::ostream out(&out_buf), progress(&progress_buf);
	p.iteration_count = ps.iterations;
	p.search_type = ps.scheduler;
	p.context_bound = ps.bound;
	p.output_stream = &out;
	p.progress_stream = &progress;
	auto t0 = std::chrono::steady_clock::now();
	sc.simulate(p);
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	bool failed = p.test_result != rl::test_result_success;
	*total += p.stop_iteration;
	std::cout << model << '/' << sc.name << ": " << (failed ? "FAILED" : "passed") << " after "
		  << p.stop_iteration << " interleavings ";
	if (ps.scheduler == rl::sched_random)
		std::cout << "(random)";
	else if (ps.scheduler == rl::sched_bound)
		std::cout << "(all with <= " << ps.bound << " preemptions"
			  << (failed ? ", search stopped" : "") << ")";
	else
		std::cout << "(full search)";
	std::cout << ", " << secs << " s" << std::endl;
	if (failed) {
		std::cout << "relacy: " << rl::test_result_str(p.test_result) << " in iteration "
			  << p.stop_iteration << "; the interleaving:\n";
		print_capped(out_buf.str(), o.full_history ? ~0u : (o.weaken.empty() ? 400u : 150u));
	}
	return failed;
}

/* Runs the scenarios under relacy (--scenario NAME[,NAME...] picks some; the extra
 * ones run only when picked so). By default each scenario
 * gets its exhaustive context-bounded pass, then its random pass; --scheduler,
 * --iterations and --context-bound replace both with one pass.
 * Without --weaken: exit 0 iff no scenario fails in any interleaving explored.
 * With --weaken: the passes run until one fails; exit 0 iff one did (what the
 * weakened run must show) and the rule applied to at least one operation. */
inline int run(int argc, char **argv, const char *model, std::vector<scenario> scenarios,
	       std::vector<scenario> extra = {})
{
	options o;
	o.iterations = 0;
	o.context_bound = 0;
	bool sched_given = false;
	std::string only;
	std::vector<char *> rest{argv[0]};
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--scenario" && i + 1 < argc)
			only = argv[++i];
		else {
			if (a == "--scheduler")
				sched_given = true;
			rest.push_back(argv[i]);
		}
	}
	if (!parse((int)rest.size(), rest.data(), o)) {
		usage(argv[0]);
		std::cerr << "  --scenario NAME runs one of:";
		for (const scenario &s : scenarios)
			std::cerr << ' ' << s.name;
		for (const scenario &s : extra)
			std::cerr << ' ' << s.name;
		std::cerr << '\n';
		return 2;
	}
	if (!o.weaken.empty() && !set_weakening(o.weaken)) {
		std::cerr << "bad --weaken rule: " << o.weaken << '\n';
		usage(argv[0]);
		return 2;
	}
	bool custom = sched_given || o.iterations || o.context_bound;
	bool any_failed = false, ran = false;
	unsigned long total = 0;
	auto t_all = std::chrono::steady_clock::now();
	if (!only.empty())
		scenarios.insert(scenarios.end(), extra.begin(), extra.end());
	for (const scenario &sc : scenarios) {
		if (!only.empty() && ("," + only + ",").find(std::string(",") + sc.name + ",") ==
					     std::string::npos)
			continue;
		ran = true;
		std::vector<pass> passes;
		if (custom) {
			passes.push_back(pass{o.scheduler, o.context_bound ? o.context_bound : 1,
					      o.iterations ? o.iterations : sc.iterations});
		} else {
			if (sc.bound)
				passes.push_back(pass{rl::sched_bound, sc.bound, 0});
			if (sc.iterations)
				passes.push_back(pass{rl::sched_random, 0, sc.iterations});
		}
		for (const pass &ps : passes)
			if (run_pass(model, sc, ps, o, &total)) {
				any_failed = true;
				break;
			}
		if (any_failed && !o.weaken.empty())
			break;
	}
	if (!ran) {
		std::cerr << "no scenario named " << only << '\n';
		return 2;
	}
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
	std::cout << model << ": " << total << " interleavings in " << secs << " s" << std::endl;
	if (o.weaken.empty())
		return any_failed ? 1 : 0;
	weakening &w = weak();
	if (w.hits == 0) {
		std::cout << "the rule " << o.weaken
			  << " matched no operation: the code it names moved; update the rule\n";
		return 1;
	}
	if (!any_failed) {
		std::cout << "the checker did NOT catch " << o.weaken << " (" << w.hits
			  << " weakened operations executed)\n";
		return 1;
	}
	std::cout << "as required, the checker caught " << o.weaken << " (" << w.hits
		  << " weakened operations executed)\n";
	return 0;
}

} // namespace orca_model

#endif
