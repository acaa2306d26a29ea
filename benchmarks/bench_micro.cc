// Google Benchmark driver for the micro benchmarks of issue 2: Orca's tasks next
// to plain threads doing the same work (the workloads are C, in micro_orca.c and
// micro_threads.c; micro.h says what each measures).
//
// Google Benchmark's loop runs on the main thread, and Orca's spawn/await/yield
// only work inside a task. So each benchmark creates one runtime (arg "workers"),
// and every iteration of the loop runs one whole batch inside an Orca task
// (orca_block_on), timed there with CLOCK_MONOTONIC and reported with
// SetIterationTime (manual time). The figure to read is the counter "value": the
// median over the iterations of the batch's figure, in the unit the label names
// (ns per op, wall ms, or bytes per task).
//
// Iterations per benchmark: $ORCA_BENCH_REPS (default 3). Select with the usual
// --benchmark_filter; run_micro.sh runs them all next to the peers.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "micro.h"

namespace {

int reps()
{
	const char *s = std::getenv("ORCA_BENCH_REPS");
	int r = s ? std::atoi(s) : 3;
	return r >= 1 && r <= 100 ? r : 3;
}

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	size_t n = v.size();
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A runtime for the life of one benchmark run.
struct Runtime {
	orca_runtime *rt = nullptr;
	explicit Runtime(long workers, long stack_cache = 0)
	{
		orca_config cfg;
		orca_config_init(&cfg);
		cfg.workers = static_cast<unsigned>(workers);
		cfg.stack_cache = static_cast<unsigned>(stack_cache);
		int err = orca_runtime_create(&rt, &cfg);
		if (err) {
			std::fprintf(stderr, "bench: orca_runtime_create: %s\n", orca_strerror(err));
			std::abort();
		}
	}
	~Runtime() { orca_runtime_free(rt); }
	Runtime(const Runtime &) = delete;
	Runtime &operator=(const Runtime &) = delete;
};

// Runs one batch per iteration. batch() returns the figure; seconds_of(figure)
// turns it into the batch's duration for SetIterationTime (for figures that are
// not times, the wall time of the call is used).
void run(benchmark::State &state, const char *unit, const std::function<double()> &batch,
	 const std::function<double(double)> &seconds_of = nullptr)
{
	std::vector<double> values;
	for (auto _ : state) {
		long long t0 = bench_now_ns();
		double v = batch();
		long long t1 = bench_now_ns();
		values.push_back(v);
		state.SetIterationTime(seconds_of ? seconds_of(v) : (double)(t1 - t0) / 1e9);
	}
	state.counters["value"] = median(values);
	state.SetLabel(unit);
}

// Figure is ns per op over n ops.
std::function<double(double)> per_op(long n)
{
	return [n](double ns) { return ns * (double)n / 1e9; };
}
double ms_to_s(double ms)
{
	return ms / 1e3;
}

// ---- Orca ----

// Arg stack_cache: orca_config.stack_cache (0 = the default, 64 per worker).
void BM_orca_spawn_join_stackful(benchmark::State &state)
{
	Runtime r(state.range(0), state.range(3));
	long n = state.range(1), outstanding = state.range(2);
	if (state.range(3) > 0) // a raised cache is measured warm: one untimed batch first
		orca_bench_spawn_join_stackful(r.rt, n, outstanding);
	run(state, "ns/task", [&] { return orca_bench_spawn_join_stackful(r.rt, n, outstanding); },
	    per_op(n));
}

void BM_orca_spawn_join_stackless(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1), outstanding = state.range(2);
	run(state, "ns/task", [&] { return orca_bench_spawn_join_stackless(r.rt, n, outstanding); },
	    per_op(n));
}

void BM_orca_yield_alone(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "ns/yield", [&] { return orca_bench_yield_alone(r.rt, n); }, per_op(n));
}

void BM_orca_yield_many(benchmark::State &state)
{
	Runtime r(state.range(0));
	long tasks = state.range(1), n = state.range(2);
	run(state, "ns/yield", [&] { return orca_bench_yield_many(r.rt, tasks, n); },
	    per_op(tasks * n));
}

#if ORCA_BENCH_FLOOR
void BM_orca_raw_switch(benchmark::State &state)
{
	long n = state.range(0);
	run(state, "ns/switch", [&] { return orca_bench_raw_switch(n); }, per_op(2 * n));
}
#endif

void BM_orca_task_pingpong(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	std::vector<double> cross;
	run(state, "ns/wake",
	    [&] {
		    double pct = 0;
		    double v = orca_bench_task_pingpong(r.rt, n, &pct);
		    cross.push_back(pct);
		    return v;
	    },
	    per_op(2 * n));
	state.counters["cross_thread_pct"] = median(cross);
}

void BM_orca_thread_task_pingpong(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "ns/wake", [&] { return orca_bench_thread_task_pingpong(r.rt, n); },
	    per_op(2 * n));
}

void BM_orca_sleepers_stackful(benchmark::State &state)
{
	Runtime r(state.range(0), state.range(2));
	long n = state.range(1);
	if (state.range(2) > 0) // a raised cache is measured warm: one untimed batch first
		orca_bench_sleepers_stackful(r.rt, n);
	run(state, "wall_ms", [&] { return orca_bench_sleepers_stackful(r.rt, n); }, ms_to_s);
}

void BM_orca_sleepers_stackless(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "wall_ms", [&] { return orca_bench_sleepers_stackless(r.rt, n); }, ms_to_s);
}

void BM_orca_rss_stackful(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "bytes/task", [&] { return orca_bench_rss_stackful(r.rt, n); });
}

void BM_orca_rss_stackless(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "bytes/task", [&] { return orca_bench_rss_stackless(r.rt, n); });
}

// ---- Orca channels and sync (issue 4) ----

void BM_orca_chan_pingpong(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1), cap = state.range(2);
	run(state, "ns/round_trip", [&] { return orca_bench_chan_pingpong(r.rt, n, cap); }, per_op(n));
}

void BM_orca_chan_throughput(benchmark::State &state)
{
	Runtime r(state.range(0));
	long producers = state.range(1), n = state.range(2), cap = state.range(3);
	run(state, "ns/msg", [&] { return orca_bench_chan_throughput(r.rt, producers, n, cap); },
	    per_op(n));
}

void BM_orca_mutex_contention(benchmark::State &state)
{
	Runtime r(state.range(0));
	long tasks = state.range(1), n = state.range(2);
	run(state, "ns/lock", [&] { return orca_bench_mutex_contention(r.rt, tasks, n); },
	    per_op(tasks * n));
}

void BM_orca_semaphore_uncontended(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "ns/acquire+release", [&] { return orca_bench_semaphore_uncontended(r.rt, n); },
	    per_op(n));
}

void BM_orca_pipe_pingpong(benchmark::State &state)
{
	Runtime r(state.range(0));
	long n = state.range(1);
	run(state, "ns/round_trip", [&] { return orca_bench_pipe_pingpong(r.rt, n); }, per_op(n));
}

// ---- plain threads ----

void BM_threads_mutex_contention(benchmark::State &state)
{
	long threads = state.range(0), n = state.range(1);
	run(state, "ns/lock", [&] { return threads_bench_mutex_contention(threads, n); },
	    per_op(threads * n));
}

void BM_threads_pipe_pingpong(benchmark::State &state)
{
	long n = state.range(0);
	run(state, "ns/round_trip", [&] { return threads_bench_pipe_pingpong(n); }, per_op(n));
}

void BM_threads_spawn_join(benchmark::State &state)
{
	long n = state.range(0), outstanding = state.range(1);
	run(state, "ns/thread", [&] { return threads_bench_spawn_join(n, outstanding); }, per_op(n));
}

void BM_threads_condvar_pingpong(benchmark::State &state)
{
	long n = state.range(0);
	run(state, "ns/wake", [&] { return threads_bench_condvar_pingpong(n); }, per_op(2 * n));
}

void BM_threads_futex_switch(benchmark::State &state)
{
	long n = state.range(0);
	bool failed = false;
	run(state, "ns/switch",
	    [&] {
		    double v = threads_bench_futex_switch(n);
		    if (v < 0) {
			    failed = true;
			    v = 0;
		    }
		    return v;
	    },
	    nullptr);
	if (failed)
		state.SkipWithError("could not pin two threads to one CPU");
}

void BM_threads_sleepers(benchmark::State &state)
{
	long n = state.range(0);
	run(state, "wall_ms", [&] { return threads_bench_sleepers(n); }, ms_to_s);
}

void BM_threads_rss_parked(benchmark::State &state)
{
	long n = state.range(0);
	run(state, "bytes/thread", [&] { return threads_bench_rss_parked(n); });
}

void register_all()
{
	const int it = reps();
	auto reg = [it](const char *name, void (*fn)(benchmark::State &)) {
		return benchmark::RegisterBenchmark(name, fn)
			->Iterations(it)
			->UseManualTime()
			->Unit(benchmark::kMillisecond);
	};
	// Memory first, as the peers do: the first measurement sees a heap nothing
	// else has grown.
	reg("orca_rss_stackful", BM_orca_rss_stackful)
		->ArgNames({"workers", "n"})
		->Args({2, 10000})
		->Args({2, 100000});
	reg("orca_rss_stackless", BM_orca_rss_stackless)
		->ArgNames({"workers", "n"})
		->Args({2, 100000});
	reg("threads_rss_parked", BM_threads_rss_parked)->ArgNames({"n"})->Args({10000});

	reg("orca_spawn_join_stackful", BM_orca_spawn_join_stackful)
		->ArgNames({"workers", "n", "outstanding", "stack_cache"})
		->Args({1, 100000, 1, 0})
		->Args({2, 100000, 1, 0})
		->Args({1, 100000, 1000, 0})
		->Args({2, 100000, 1000, 0})
		->Args({2, 100000, 100000, 0})
		// The same with the stack cache raised past the batch: what pooling buys.
		->Args({1, 100000, 1000, 100000})
		->Args({2, 100000, 1000, 100000});
	reg("orca_spawn_join_stackless", BM_orca_spawn_join_stackless)
		->ArgNames({"workers", "n", "outstanding"})
		->Args({1, 1000000, 1})
		->Args({2, 1000000, 1})
		->Args({1, 1000000, 1000000})
		->Args({2, 1000000, 1000000});
	reg("threads_spawn_join", BM_threads_spawn_join)
		->ArgNames({"n", "outstanding"})
		->Args({10000, 1})
		->Args({10000, 1000});

	reg("orca_yield_alone", BM_orca_yield_alone)
		->ArgNames({"workers", "n"})
		->Args({1, 1000000})
		->Args({2, 1000000});
	reg("orca_yield_many", BM_orca_yield_many)
		->ArgNames({"workers", "tasks", "n"})
		->Args({1, 2, 1000000})
		->Args({1, 100, 10000})
		->Args({2, 100, 10000});
#if ORCA_BENCH_FLOOR
	reg("orca_raw_switch", BM_orca_raw_switch)->ArgNames({"n"})->Args({10000000});
#endif
	reg("threads_futex_switch", BM_threads_futex_switch)->ArgNames({"n"})->Args({100000});

	reg("orca_task_pingpong", BM_orca_task_pingpong)
		->ArgNames({"workers", "n"})
		->Args({1, 200000})
		->Args({2, 200000});
	reg("orca_thread_task_pingpong", BM_orca_thread_task_pingpong)
		->ArgNames({"workers", "n"})
		->Args({1, 50000})
		->Args({2, 50000});
	reg("threads_condvar_pingpong", BM_threads_condvar_pingpong)->ArgNames({"n"})->Args({50000});

	reg("orca_sleepers_stackful", BM_orca_sleepers_stackful)
		->ArgNames({"workers", "n", "stack_cache"})
		->Args({1, 100000, 0})
		->Args({2, 100000, 0})
		->Args({1, 100000, 100000})
		->Args({2, 100000, 100000});
	reg("orca_sleepers_stackless", BM_orca_sleepers_stackless)
		->ArgNames({"workers", "n"})
		->Args({1, 100000})
		->Args({2, 100000});
	reg("threads_sleepers", BM_threads_sleepers)->ArgNames({"n"})->Args({10000});

	// Issue 4: the same shapes as the peers' chan_pingpong (u64, two channels of
	// capacity 1, 1M round trips) and mutex_contention (4 tasks x 250,000).
	reg("orca_chan_pingpong", BM_orca_chan_pingpong)
		->ArgNames({"workers", "n", "cap"})
		->Args({1, 1000000, 1})
		->Args({2, 1000000, 1});
	reg("orca_chan_throughput", BM_orca_chan_throughput)
		->ArgNames({"workers", "producers", "n", "cap"})
		->Args({2, 1, 1000000, 128})
		->Args({2, 4, 1000000, 128});
	reg("orca_mutex_contention", BM_orca_mutex_contention)
		->ArgNames({"workers", "tasks", "n"})
		->Args({1, 4, 250000})
		->Args({2, 4, 250000});
	reg("orca_semaphore_uncontended", BM_orca_semaphore_uncontended)
		->ArgNames({"workers", "n"})
		->Args({2, 10000000});
	reg("threads_mutex_contention", BM_threads_mutex_contention)
		->ArgNames({"threads", "n"})
		->Args({4, 250000});

	// I/O: one byte through two pipes, task <-> task vs thread <-> thread.
	reg("orca_pipe_pingpong", BM_orca_pipe_pingpong)
		->ArgNames({"workers", "n"})
		->Args({2, 100000});
	reg("threads_pipe_pingpong", BM_threads_pipe_pingpong)->ArgNames({"n"})->Args({100000});
}

} // namespace

int main(int argc, char **argv)
{
	register_all();
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
