/* Spin model of parking and notifying: runtime/idle.c (searching and unparked counters,
 * the sleepers list), runtime/park.c (the park/unpark state machine's token, with the
 * I/O driver's eventfd wait around it: io/driver_shared.h) and the parts of
 * runtime/worker.c that use them (worker_main, search, stop_searching, park,
 * orca__notify_parked, orca__schedule from outside), against an outside thread that
 * pushes tasks into the inject queue, and shutdown's stop (runtime.c step 4).
 *
 * Spin explores every interleaving of these steps under sequential consistency: it
 * checks the protocol's logic; the memory orders are relacy's business
 * (park_model.cc). Each step below names the line of C it stands for. A step inside
 * atomic { } is one atomic instruction or one critical section of the C code.
 *
 * What must hold: no lost wake-up. The runner of the last task stops the runtime, so a
 * task stranded in a queue while every worker sleeps leaves the workers asleep for
 * ever: spin reports an invalid end state. Asserts: every task runs exactly once, the
 * counters never go out of range.
 *
 * Broken variants (each must fail; run_spin.sh passes the -D):
 *   -DBROKEN_NO_RECHECK  park() forgets idle.h step 3 (the last searcher to park
 *                        re-checks the queues and notifies);
 *   -DBROKEN_NO_TOKEN    the parker keeps no token: an unpark that comes before the
 *                        park is lost (unpark wakes only a parked thread).
 */

#define W 2          /* workers */
#define INJECTED 2   /* pushed by the outside thread */
#define TASKS 3      /* and the first task run spawns one into its worker's queue */

#define EMPTY 0
#define PARKED 1
#define NOTIFIED 2

/* idle.c: state word (unparked << 16 | searching), and the sleepers under its lock */
byte searching = 0;
byte unparked = W;
bool listed[W];
byte nsleepers = 0;
bit idle_lock = 0;

/* park.c, each worker's driver's */
byte pstate[W];

/* queues: the inject queue and each worker's local queue, by length */
byte inject = 0;
byte localq[W];

bool stop = false;
byte ran = 0;

inline lock(l) { atomic { l == 0 -> l = 1 } }
inline unlock(l) { l = 0 }

/* park.c orca__parker_unpark: swap in NOTIFIED; if it was PARKED the caller writes the
 * driver's eventfd (driver_shared.h orca__parking_unpark), which ends the wait below
 * (it ends once the word is no longer PARKED). */
inline parker_unpark(w) {
#ifdef BROKEN_NO_TOKEN
	atomic { if :: pstate[w] == PARKED -> pstate[w] = NOTIFIED :: else -> skip fi }
#else
	pstate[w] = NOTIFIED
#endif
}

/* The driver's park (uring_park, ep_park) with no deadline: park.c
 * orca__parker_begin, the wait, orca__parker_done. */
inline parker_park(me) {
	if
	:: atomic { pstate[me] == NOTIFIED -> pstate[me] = EMPTY }  /* CAS NOTIFIED -> EMPTY */
	:: else ->
		if
		:: atomic { pstate[me] == EMPTY -> pstate[me] = PARKED }  /* CAS EMPTY -> PARKED */
			/* the wait (ring wait / epoll_wait) until the eventfd is written; one
			 * that ends early (another completion) only loops back through park(),
			 * so it is left out: a lost wake-up must show as a worker asleep for
			 * ever. */
			(pstate[me] != PARKED);
			pstate[me] = EMPTY                  /* orca__parker_done: exchange(EMPTY) */
		:: atomic { pstate[me] == NOTIFIED -> pstate[me] = EMPTY }  /* CAS failed: token */
		fi
	fi
}

/* idle.c orca__idle_worker_to_notify + worker.c orca__notify_parked */
inline notify_parked() {
	target = W;
	if
	:: atomic { searching == 0 && unparked < W } ->   /* should_wakeup: fetch_add(0) */
		lock(idle_lock);
		if
		:: searching == 0 && unparked < W && nsleepers > 0 ->
			atomic { unparked++; searching++ };      /* fetch_add(UNPARKED_ONE + 1) */
			/* sleepers[--nsleepers]: spin picks any listed worker */
			if
			:: listed[0] -> target = 0
			:: listed[1] -> target = 1
			fi;
			listed[target] = false;
			nsleepers--
		:: else -> skip
		fi;
		unlock(idle_lock);
		if
		:: target < W -> parker_unpark(target)
		:: else -> skip
		fi
	:: else -> skip
	fi
}

/* worker.c work_anywhere */
inline work_anywhere(r) {
	r = (inject > 0 || localq[0] > 0 || localq[1] > 0)
}

proctype worker(byte me) {
	bool my_searching = false;
	bool was, last, found, any;
	byte prev, target, victim, mine;

	do
	:: stop -> break
	:: else ->
		found = false;
		/* next_local: the local queue, then the inject queue (pull_inject) */
		if
		:: atomic { localq[me] > 0 -> localq[me]-- ; found = true }
		:: atomic { localq[me] == 0 && inject > 0 -> inject--; found = true }
		:: atomic { localq[me] == 0 && inject == 0 -> skip }
		fi;
		/* search */
		if
		:: !found ->
			if
			:: !my_searching ->
				if
				:: 2 * searching < W ->          /* the load in to_searching */
					searching++;                 /* fetch_add(1) */
					my_searching = true
				:: else -> skip
				fi
			:: else -> skip
			fi;
			if
			:: my_searching ->
				victim = 1 - me;                 /* steal from the other worker */
				if
				:: atomic { localq[victim] > 0 -> localq[victim]--; found = true }
				:: atomic { localq[victim] == 0 && inject > 0 -> inject--; found = true }
				:: atomic { localq[victim] == 0 && inject == 0 -> skip }
				fi
			:: else -> skip
			fi
		:: else -> skip
		fi;
		if
		:: found ->
			/* stop_searching */
			if
			:: my_searching ->
				my_searching = false;
				atomic { prev = searching; searching-- };  /* from_searching */
				if
				:: prev == 1 -> notify_parked()
				:: else -> skip
				fi
			:: else -> skip
			fi;
			/* orca__task_run: the task runs once; the last one stops the runtime
			 * (runtime.c step 4: stop, then unpark every worker). */
			atomic { ran++; mine = ran; assert(ran <= TASKS) };
			if
			:: mine == 1 ->
				/* orca__schedule from the running task: LIFO slot, and the task
				 * that was there (none) would go to the local queue; modelled as
				 * the child going to the local queue without a notify (len 1). */
				localq[me]++
			:: else -> skip
			fi;
			if
			:: mine == TASKS ->
				stop = true;
				parker_unpark(0);
				parker_unpark(1)
			:: else -> skip
			fi
		:: else ->
			/* park */
			was = my_searching;
			my_searching = false;
			lock(idle_lock);                          /* to_parked */
			atomic {                                  /* one fetch_sub of both counters */
				prev = searching;
				unparked--;
				if
				:: was -> searching--
				:: else -> skip
				fi
			};
			last = was && prev == 1;
			listed[me] = true;
			nsleepers++;
			unlock(idle_lock);
#ifndef BROKEN_NO_RECHECK
			if
			:: last ->
				work_anywhere(any);               /* idle.h step 3 */
				if
				:: any -> notify_parked()
				:: else -> skip
				fi
			:: else -> skip
			fi;
#endif
			do
			:: stop -> break
			:: else ->
				parker_park(me);
				if
				:: localq[me] > 0 ->
					/* own work: unpark_by_id (step 4) */
					lock(idle_lock);
					if
					:: listed[me] -> listed[me] = false; nsleepers--; unparked++;
					                 my_searching = false
					:: else -> my_searching = true
					fi;
					unlock(idle_lock);
					break
				:: else -> skip
				fi;
				lock(idle_lock);                  /* is_parked */
				found = listed[me];
				unlock(idle_lock);
				if
				:: !found -> my_searching = true; break  /* unparked by notify_parked */
				:: else -> skip
				fi
			od
		fi
	od;
	/* worker_main's end: unpark_by_id */
	lock(idle_lock);
	if
	:: listed[me] -> listed[me] = false; nsleepers--; unparked++
	:: else -> skip
	fi;
	unlock(idle_lock);
	assert(ran == TASKS)
}

/* An outside thread: orca__schedule pushes to the inject queue, then notify_parked. */
proctype outside() {
	byte target, i;
	for (i : 1 .. INJECTED) {
		inject++;
		notify_parked()
	}
}

init {
	atomic {
		pstate[0] = EMPTY; pstate[1] = EMPTY;
		run worker(0); run worker(1); run outside()
	}
}
