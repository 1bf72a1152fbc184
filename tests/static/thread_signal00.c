/*
 * thread_signal00: blocked signals pending on specific threads.
 * Three threads A, B, C and the main thread block SIGUSR1, SIGUSR2,
 * SIGRTMIN+5 and SIGHUP.  Then:
 *   A: SIGUSR1 (tgkill);
 *   B: SIGUSR2 (tgkill) and SIGRTMIN+5 with value 0xB5 (rt_tgsigqueueinfo);
 *   C: SIGRTMIN+5 twice, values 0xC5 and 0xC6;
 *   process-wide: SIGHUP (kill).
 * After restore:
 *  - /proc/self/task/TID/status: every thread's SigPnd has exactly its own
 *    signals, SigBlk is unchanged, ShdPnd has exactly SIGHUP;
 *  - each thread in turn unblocks SIGUSR1/SIGUSR2/SIGRTMIN+5 and must get
 *    exactly its own signals (handlers record the receiving tid, the signal
 *    and the value): A one SIGUSR1, B SIGUSR2 and 0xB5, C 0xC5 then 0xC6;
 *  - the main thread finally unblocks SIGHUP and gets it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NTH 3
#define MAX_REC 16

struct rec {
	pid_t tid;
	int sig, val;
};

static struct rec recs[MAX_REC];
static volatile int nrec;
static pid_t tids[NTH];
static task_waiter_t tw[NTH];
static int rt;

static void handler(int sig, siginfo_t *si, void *uc)
{
	int n = __sync_fetch_and_add(&nrec, 1);

	(void)uc;
	if (n < MAX_REC) {
		recs[n].tid = syscall(SYS_gettid);
		recs[n].sig = sig;
		recs[n].val = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
	}
}

static void *thread_fn(void *arg)
{
	int idx = (intptr_t)arg;
	sigset_t set;

	tids[idx] = syscall(SYS_gettid);
	task_complete(&tw[idx], 1);
	task_wait(&tw[idx], 2);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rt);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* our own pending signals arrive here */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	task_complete(&tw[idx], 3);
	return NULL;
}

static unsigned long long status_mask(pid_t tid, const char *field)
{
	char path[64], *st, *p;
	unsigned long long mask = ~0ULL;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	st = read_file(path, NULL);
	if (st && (p = strstr(st, field)))
		sscanf(p + strlen(field), " %llx", &mask);
	free(st);
	return mask;
}

#define BIT(s) (1ULL << ((s) - 1))

static int queue_to(pid_t tid, int sig, int val)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = val;
	return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &si);
}

static int check_masks(void)
{
	unsigned long long want[NTH + 1], blk = BIT(SIGUSR1) | BIT(SIGUSR2) | BIT(rt) | BIT(SIGHUP);
	pid_t who[NTH + 1];
	int i, ret = 0;

	want[0] = BIT(SIGUSR1);
	want[1] = BIT(SIGUSR2) | BIT(rt);
	want[2] = BIT(rt);
	want[3] = 0;
	memcpy(who, tids, sizeof(tids));
	who[3] = getpid();
	for (i = 0; i <= NTH; i++) {
		unsigned long long pnd = status_mask(who[i], "SigPnd:"), b = status_mask(who[i], "SigBlk:");

		if (pnd != want[i]) {
			fail("thread %c (%d): SigPnd %#llx, expected %#llx", i < NTH ? 'A' + i : 'M', (int)who[i],
			     pnd, want[i]);
			ret = 1;
		}
		if ((b & blk) != blk) {
			fail("thread %c (%d): SigBlk %#llx lacks %#llx", i < NTH ? 'A' + i : 'M', (int)who[i], b,
			     blk);
			ret = 1;
		}
	}
	if (status_mask(getpid(), "ShdPnd:") != BIT(SIGHUP)) {
		fail("ShdPnd %#llx, expected only SIGHUP", status_mask(getpid(), "ShdPnd:"));
		ret = 1;
	}
	return ret;
}

static int expect_rec(int n, int th, int sig, int val)
{
	pid_t tid = th < NTH ? tids[th] : getpid();

	if (n >= nrec || recs[n].tid != tid || recs[n].sig != sig || recs[n].val != val) {
		fail("delivery %d: tid %d signal %d value %#x, expected tid %d (%c) signal %d value %#x", n,
		     n < nrec ? (int)recs[n].tid : -1, n < nrec ? recs[n].sig : -1, n < nrec ? recs[n].val : -1,
		     (int)tid, th < NTH ? 'A' + th : 'M', sig, val);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t th[NTH];
	sigset_t set;
	int i, ret = 0;

	test_init(argc, argv);

	rt = SIGRTMIN + 5;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	/* one at a time, so that handlers run (and record) in the kernel's dequeue order */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, rt);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(rt, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, rt);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < NTH; i++) {
		if (task_waiter_init(&tw[i]) || pthread_create(&th[i], NULL, thread_fn, (void *)(intptr_t)i)) {
			pr_err("can't start thread %d", i);
			return 1;
		}
		task_wait(&tw[i], 1);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	if (syscall(SYS_tgkill, getpid(), tids[0], SIGUSR1) || syscall(SYS_tgkill, getpid(), tids[1], SIGUSR2) ||
	    queue_to(tids[1], rt, 0xB5) || queue_to(tids[2], rt, 0xC5) || queue_to(tids[2], rt, 0xC6) ||
	    kill(getpid(), SIGHUP)) {
		pr_perror("sending signals");
		return 1;
	}
	if (check_masks()) {
		pr_err("pending signals are wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_masks();
	if (nrec) {
		fail("%d signals were delivered while blocked", nrec);
		ret = 1;
	}
	for (i = 0; i < NTH; i++) {
		task_complete(&tw[i], 2);
		task_wait(&tw[i], 3);
		pthread_join(th[i], NULL);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	if (nrec != 6) {
		fail("%d signals delivered, expected 6", nrec);
		ret = 1;
	}
	ret |= expect_rec(0, 0, SIGUSR1, 0);
	ret |= expect_rec(1, 1, SIGUSR2, 0);
	ret |= expect_rec(2, 1, rt, 0xB5);
	ret |= expect_rec(3, 2, rt, 0xC5);
	ret |= expect_rec(4, 2, rt, 0xC6);
	ret |= expect_rec(5, NTH, SIGHUP, 0);
	if (!ret)
		pass();
	return ret;
}
