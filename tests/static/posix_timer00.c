/*
 * posix_timer00: POSIX timers with different notifications.
 *  T1: CLOCK_MONOTONIC, SIGEV_THREAD_ID -> a worker thread, SIGRTMIN+3,
 *      value 0x7001, every 50 ms (the signal is blocked everywhere, so it
 *      sits in the worker's private pending set, overruns counting up);
 *  T2: CLOCK_MONOTONIC, SIGEV_NONE, 1000 s, interval 500 s;
 *  T3: CLOCK_REALTIME, SIGEV_NONE, every 10 ms (expired many times);
 *  T4: CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+4 value 0x7004, one-shot
 *      1 ms, expired before the checkpoint: its signal is pending process-wide.
 * After restore (timers keep their ids):
 *  - T2 and T3 keep their intervals, T2's remaining time is consistent with
 *    the elapsed time and counting down, T3's is within one interval;
 *  - T4 is disarmed and its signal is still pending: SI_TIMER, T4's id,
 *    0x7004;
 *  - T1's signal is pending on the worker only (not on the main thread,
 *    not process-wide); the worker then receives three more with SI_TIMER,
 *    T1's id and 0x7001, while the main thread never sees one.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static timer_t t1, t2, t3, t4;
static int sig1, sig4;
static pid_t worker_tid;
static task_waiter_t tw;
static volatile int worker_result = -1;
static struct timespec t2_set;

static double ts2d(struct timespec ts)
{
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* is sig in the SigPnd / ShdPnd mask of /proc/self/task/TID/status? */
static int pending_in(pid_t tid, const char *field, int sig)
{
	char path[64], *st, *p;
	unsigned long long mask;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	st = read_file(path, NULL);
	if (!st)
		return -1;
	p = strstr(st, field);
	if (!p || sscanf(p + strlen(field), " %llx", &mask) != 1) {
		free(st);
		return -1;
	}
	free(st);
	return !!(mask & (1ULL << (sig - 1)));
}

static void *worker(void *arg)
{
	struct timespec to = { 2, 0 }, zero = { 0, 0 };
	struct itimerspec stop;
	sigset_t set;
	siginfo_t si;
	int i, ret = 0;

	(void)arg;
	worker_tid = syscall(SYS_gettid);
	task_complete(&tw, 1);
	task_wait(&tw, 2);

	sigemptyset(&set);
	sigaddset(&set, sig1);
	for (i = 0; i < 4; i++) {
		if (sigtimedwait(&set, &si, &to) != sig1) {
			fail("worker: timer signal %d of 4 did not come", i + 1);
			ret = 1;
			break;
		}
		if (si.si_code != SI_TIMER || si.si_timerid != (int)(intptr_t)t1 ||
		    si.si_value.sival_int != 0x7001) {
			fail("worker: T1 signal with code %d timerid %d value %#x, expected %d %d %#x",
			     si.si_code, si.si_timerid, si.si_value.sival_int, SI_TIMER,
			     (int)(intptr_t)t1, 0x7001);
			ret = 1;
			break;
		}
	}
	/* stop T1 and drain what is left, so that nothing can follow the worker's exit */
	memset(&stop, 0, sizeof(stop));
	timer_settime(t1, 0, &stop, NULL);
	while (sigtimedwait(&set, &si, &zero) == sig1)
		;
	worker_result = ret;
	return NULL;
}

int main(int argc, char **argv)
{
	struct itimerspec its, cur;
	struct sigevent sev;
	struct timespec now, zero = { 0, 0 };
	pthread_t th;
	sigset_t set;
	siginfo_t si;
	double elapsed, r, r2;
	int ret = 0, v;

	test_init(argc, argv);

	sig1 = SIGRTMIN + 3;
	sig4 = SIGRTMIN + 4;
	sigemptyset(&set);
	sigaddset(&set, sig1);
	sigaddset(&set, sig4);
	sigaddset(&set, SIGTERM); /* inherited by the worker; unblocked again below */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (task_waiter_init(&tw) || pthread_create(&th, NULL, worker, NULL)) {
		pr_err("can't start the worker");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	task_wait(&tw, 1);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sig1;
	sev.sigev_value.sival_int = 0x7001;
	sev._sigev_un._tid = worker_tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t1)) {
		pr_perror("timer_create T1");
		return 1;
	}
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_NONE;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t2) || timer_create(CLOCK_REALTIME, &sev, &t3)) {
		pr_perror("timer_create T2/T3");
		return 1;
	}
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = sig4;
	sev.sigev_value.sival_int = 0x7004;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t4)) {
		pr_perror("timer_create T4");
		return 1;
	}

	its.it_value.tv_sec = 0;
	its.it_value.tv_nsec = 50 * 1000000;
	its.it_interval = its.it_value;
	if (timer_settime(t1, 0, &its, NULL))
		return 1;
	its.it_value.tv_sec = 1000;
	its.it_value.tv_nsec = 0;
	its.it_interval.tv_sec = 500;
	its.it_interval.tv_nsec = 0;
	clock_gettime(CLOCK_MONOTONIC, &t2_set);
	if (timer_settime(t2, 0, &its, NULL))
		return 1;
	its.it_value.tv_sec = 0;
	its.it_value.tv_nsec = 10 * 1000000;
	its.it_interval = its.it_value;
	if (timer_settime(t3, 0, &its, NULL))
		return 1;
	its.it_value.tv_nsec = 1000000;
	its.it_interval.tv_nsec = 0;
	if (timer_settime(t4, 0, &its, NULL))
		return 1;
	/* T1 has fired at least once (pending on the worker), T4 has expired */
	usleep(120000);
	if (pending_in(worker_tid, "SigPnd:", sig1) != 1 || pending_in(getpid(), "ShdPnd:", sig4) != 1) {
		pr_err("timer signals are not pending before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	/* T2 */
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = ts2d(now) - ts2d(t2_set);
	if (timer_gettime(t2, &cur)) {
		fail("timer_gettime(T2 = %d)", (int)(intptr_t)t2);
		return 1;
	}
	r = ts2d(cur.it_value);
	if (cur.it_interval.tv_sec != 500 || cur.it_interval.tv_nsec || r > 1000 || r < 1000 - elapsed - 1) {
		fail("T2: %.3f s left (interval %.3f), expected <= 1000 and >= %.3f, interval 500", r,
		     ts2d(cur.it_interval), 1000 - elapsed - 1);
		ret = 1;
	}
	usleep(100000);
	timer_gettime(t2, &cur);
	r2 = ts2d(cur.it_value);
	if (r - r2 < 0.05 || r - r2 > 1) {
		fail("T2 is not counting down: %.3f s left, 100 ms later %.3f", r, r2);
		ret = 1;
	}
	/* T3 */
	if (timer_gettime(t3, &cur)) {
		fail("timer_gettime(T3)");
		return 1;
	}
	if (cur.it_interval.tv_sec || cur.it_interval.tv_nsec != 10 * 1000000 || cur.it_value.tv_sec ||
	    cur.it_value.tv_nsec <= 0 || cur.it_value.tv_nsec > 10 * 1000000) {
		fail("T3: value %.6f interval %.6f, expected (0, 0.01] and 0.01", ts2d(cur.it_value),
		     ts2d(cur.it_interval));
		ret = 1;
	}
	/* T4: disarmed, its signal pending process-wide */
	if (timer_gettime(t4, &cur) || cur.it_value.tv_sec || cur.it_value.tv_nsec) {
		fail("T4 is armed again or gone");
		ret = 1;
	}
	sigemptyset(&set);
	sigaddset(&set, sig4);
	v = sigtimedwait(&set, &si, &zero);
	if (v != sig4 || si.si_code != SI_TIMER || si.si_timerid != (int)(intptr_t)t4 ||
	    si.si_value.sival_int != 0x7004) {
		fail("T4's pending signal: %d code %d timerid %d value %#x; expected %d %d %d %#x", v, si.si_code,
		     si.si_timerid, si.si_value.sival_int, sig4, SI_TIMER, (int)(intptr_t)t4, 0x7004);
		ret = 1;
	}
	/* T1: pending on the worker only */
	if (pending_in(worker_tid, "SigPnd:", sig1) != 1 || pending_in(getpid(), "SigPnd:", sig1) != 0 ||
	    pending_in(getpid(), "ShdPnd:", sig1) != 0) {
		fail("T1's signal is not pending on exactly the worker thread (worker %d, main %d, shared %d)",
		     pending_in(worker_tid, "SigPnd:", sig1), pending_in(getpid(), "SigPnd:", sig1),
		     pending_in(getpid(), "ShdPnd:", sig1));
		ret = 1;
	}
	task_complete(&tw, 2);
	pthread_join(th, NULL);
	if (worker_result) {
		fail("the worker did not get T1's signals right");
		ret = 1;
	}
	if (pending_in(getpid(), "SigPnd:", sig1) != 0 || pending_in(getpid(), "ShdPnd:", sig1) != 0) {
		fail("T1's signal went to the main thread or the process");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
