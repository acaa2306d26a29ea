/* Spin model of runtime shutdown (runtime/runtime.c, its comment lists the steps),
 * with the owned-task list (task.c orca__owned_insert / orca__owned_remove), abort
 * (task_state.h orca__st_transition_to_notified_and_cancel) and the workers' loop:
 *  1. set shutting_down (spawns are refused from now on: owned_insert checks the flag
 *     under the shard lock);
 *  2. walk the owned list under its lock and abort each task;
 *  3. wait (condition variable) until no task is alive; the last completion signals;
 *  4. set stop, unpark every worker, join them.
 * Against it: a task that waits for ever unless aborted (a pending accept, say), and a
 * spawner that spawns a second such task at the same moment (a task's spawn or an
 * outside thread's). The parker is reduced to "sleep until there is work or stop":
 * its token is park.pml's and park_model.cc's business.
 *
 * What must hold: shutdown returns with no task alive, every task spawned is either
 * refused or completed, the workers exit (else spin reports an invalid end state: a
 * hang), and no task is queued or runs after stop.
 *
 * Broken variant (must fail; run_spin.sh passes the -D):
 *   -DBROKEN_UNLOCKED_CHECK  owned_insert reads shutting_down before taking the shard
 *                            lock: a task inserted after abort_all walked the list is
 *                            never aborted, and shutdown waits for it for ever.
 */

#define NTASKS 2
#define W 2

/* task states (the bits that matter here) */
#define IDLE 0
#define NOTIFIED 1
#define RUNNING 2
#define COMPLETE 3

bool shutting_down = false;
bool stop = false;
bit shard_lock = 0;        /* the owned list's shard lock */
bit shutdown_lock = 0;     /* rt->shutdown_lock */
bool cond_waiting = false; /* rt->shutdown_cond, one waiter */
byte alive = 0;

byte tstate[NTASKS];
bool cancelled[NTASKS];
bool inserted[NTASKS];
bool refused[NTASKS];

/* the run queue (inject queue): task ids, FIFO */
chan q = [NTASKS] of { byte };

inline lock(l) { atomic { l == 0 -> l = 1 } }
inline unlock(l) { l = 0 }

/* pthread_cond_wait: release the lock and wait, atomically; then retake the lock.
 * pthread_cond_broadcast: wake the waiter. (Spurious wake-ups would only add loops.) */
inline cond_wait() {
	atomic { cond_waiting = true; shutdown_lock = 0 };
	atomic { !cond_waiting && shutdown_lock == 0 -> shutdown_lock = 1 }
}
inline cond_broadcast() { cond_waiting = false }

/* task.c orca__owned_insert: returns through ok */
inline owned_insert(t, ok) {
#ifdef BROKEN_UNLOCKED_CHECK
	if
	:: shutting_down -> ok = false
	:: else ->
		lock(shard_lock);
		inserted[t] = true;
		alive++;
		unlock(shard_lock);
		ok = true
	fi
#else
	lock(shard_lock);
	if
	:: shutting_down -> ok = false
	:: else -> inserted[t] = true; alive++; ok = true
	fi;
	unlock(shard_lock)
#endif
}

/* task.c orca__owned_remove */
inline owned_remove(t) {
	lock(shard_lock);
	inserted[t] = false;
	unlock(shard_lock);
	atomic { prev = alive; alive-- };          /* fetch_sub(alive, 1) */
	if
	:: prev == 1 && shutting_down ->
		lock(shutdown_lock);
		cond_broadcast();
		unlock(shutdown_lock)
	:: else -> skip
	fi
}

/* orca__schedule: into the queue (a worker sleeps until there is work or stop) */
inline schedule(t) {
	assert(!stop);
	q ! t
}

/* task_header_init (state NOTIFIED: about to be queued), then task_launch: insert,
 * then schedule; a refused spawn frees the task */
inline spawn(t) {
	tstate[t] = NOTIFIED;
	owned_insert(t, ok);
	if
	:: ok -> schedule(t)
	:: else -> refused[t] = true
	fi
}

/* orca_abort / abort_all: transition_to_notified_and_cancel, then schedule if SUBMIT */
inline abort_task(t) {
	submit = false;
	atomic {
		if
		:: tstate[t] == COMPLETE || cancelled[t] -> skip
		:: tstate[t] == RUNNING || tstate[t] == NOTIFIED -> cancelled[t] = true
		:: tstate[t] == IDLE -> cancelled[t] = true; tstate[t] = NOTIFIED; submit = true
		fi
	};
	if
	:: submit -> schedule(t)
	:: else -> skip
	fi
}

/* A worker: take a task, run it. The task's body waits for an event that never comes:
 * it ends only when it sees its abort. */
proctype worker() {
	byte t, prev;
	bool requeue;
	do
	:: q ? t ->
		assert(!stop);                           /* nothing runs after stop */
		atomic { assert(tstate[t] == NOTIFIED); tstate[t] = RUNNING };  /* to_running */
		if
		:: cancelled[t] ->                       /* the poll sees the abort: done */
			tstate[t] = COMPLETE;                /* transition_to_complete */
			owned_remove(t)
		:: else ->                               /* pending: transition_to_idle */
			atomic {
				if
				:: cancelled[t] -> tstate[t] = NOTIFIED; requeue = true  /* woken meanwhile */
				:: else -> tstate[t] = IDLE; requeue = false
				fi
			};
			if
			:: requeue -> q ! t
			:: else -> skip
			fi
		fi
	:: atomic { stop && len(q) == 0 } -> break   /* park: woken by stop_workers */
	od
}

/* Another thread spawns task 1 while shutdown runs. */
proctype spawner() {
	bool ok;
	byte t = 1;
	spawn(t)
}

/* orca_runtime_shutdown (no deadline) */
proctype shutdown() {
	byte i, prev;
	bool submit, was;
	/* step 1: exchange(shutting_down, 1) */
	atomic { was = shutting_down; shutting_down = true };
	/* step 2: abort_all, the list under its lock */
	if
	:: !was ->
		lock(shard_lock);
		for (i : 0 .. NTASKS - 1) {
			if
			:: inserted[i] -> abort_task(i)
			:: else -> skip
			fi
		}
		unlock(shard_lock)
	:: else -> skip
	fi;
	/* step 3 */
	lock(shutdown_lock);
	do
	:: alive != 0 -> cond_wait()
	:: else -> break
	od;
	unlock(shutdown_lock);
	/* step 4 */
	stop = true;
done:
	assert(alive == 0);
	for (i : 0 .. NTASKS - 1) {
		assert(!inserted[i]);                    /* every task aborted and removed */
		assert(tstate[i] != RUNNING)
	}
}

init {
	bool ok;
	byte t = 0;
	atomic {
		/* task 0 is running already: spawned before shutdown */
		spawn(t);
		run worker();
		run worker();
		run spawner();
		run shutdown()
	}
}
