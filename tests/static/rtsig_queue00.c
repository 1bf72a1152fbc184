/*
 * rtsig_queue00: queued real-time signals with their siginfo payloads.
 * All signals below are blocked, then queued to ourselves with
 * rt_sigqueueinfo (process-wide) and rt_tgsigqueueinfo (to the main thread
 * only), in a scrambled order of signal numbers:
 *  - 6 RT signals (SIGRTMIN+1 .. +6) x 5 process-wide entries each,
 *  - 2 RT signals (SIGRTMIN+2, +7) x 3 thread-private entries each,
 *  - SIGUSR1 twice (a standard signal: only the first siginfo is kept).
 * Every entry has its own si_code (SI_QUEUE, SI_MESGQ, SI_ASYNCIO, SI_USER
 * or a made-up negative one), a made-up si_pid and si_uid and a 64-bit
 * si_ptr value.
 * After restore the pending sets (thread and process) must be the same and
 * sigtimedwait() must return every entry exactly as queued and in the
 * kernel's order: thread-private first, lower signal numbers first, FIFO
 * within a signal; then nothing more.
 */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MAX_Q 64

struct q {
	int sig, code, private;
	pid_t pid;
	uid_t uid;
	uint64_t val;
};

static struct q queued[MAX_Q], expect[MAX_Q];
static int nq;

static const int codes[] = { SI_QUEUE, SI_MESGQ, SI_ASYNCIO, SI_USER, -42 };

static int send(int sig, int private, int n)
{
	siginfo_t si;
	struct q *q = &queued[nq];

	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = codes[n % ARRAY_SIZE(codes)];
	si.si_pid = 40000 + nq;
	si.si_uid = 50000 + nq * 3;
	si.si_value.sival_ptr = (void *)(uintptr_t)(0xfeed000000000000ULL | ((uint64_t)nq << 20) | sig);
	q->sig = sig;
	q->code = si.si_code;
	q->private = private;
	q->pid = si.si_pid;
	q->uid = si.si_uid;
	q->val = (uintptr_t)si.si_value.sival_ptr;
	nq++;
	if (private)
		return syscall(SYS_rt_tgsigqueueinfo, getpid(), getpid(), sig, &si);
	return syscall(SYS_rt_sigqueueinfo, getpid(), sig, &si);
}

/* the kernel's dequeue order: private before shared, by signal number, FIFO */
static int build_expect(void)
{
	int n = 0, pass, sig, i, usr1_seen = 0;

	for (pass = 1; pass >= 0; pass--)
		for (sig = 1; sig <= SIGRTMAX; sig++)
			for (i = 0; i < nq; i++) {
				if (queued[i].sig != sig || queued[i].private != pass)
					continue;
				if (sig < SIGRTMIN) { /* standard: one instance, the first siginfo */
					if (usr1_seen++)
						continue;
				}
				expect[n++] = queued[i];
			}
	return n;
}

int main(int argc, char **argv)
{
	static const int order[] = { 4, 1, 6, 3, 5, 2 };
	sigset_t all, pend;
	struct timespec zero = { 0, 0 };
	int i, j, n, ret = 0, nexp;
	siginfo_t si;

	test_init(argc, argv);

	sigemptyset(&all);
	for (i = 1; i <= 7; i++)
		sigaddset(&all, SIGRTMIN + i);
	sigaddset(&all, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &all, NULL)) {
		pr_perror("sigprocmask");
		return 1;
	}
	for (j = 0; j < 5; j++)
		for (i = 0; i < 6; i++) {
			if (send(SIGRTMIN + order[i], 0, j + i)) {
				pr_perror("rt_sigqueueinfo");
				return 1;
			}
			if (j == 2 && i == 3 && send(SIGUSR1, 0, 0))
				return 1;
			if (j < 3 && i == 1 &&
			    (send(SIGRTMIN + 7, 1, j) || send(SIGRTMIN + 2, 1, j + 1))) {
				pr_perror("rt_tgsigqueueinfo");
				return 1;
			}
		}
	if (send(SIGUSR1, 0, 1))
		return 1;
	nexp = build_expect();

	test_daemon();
	test_waitsig();

	sigpending(&pend);
	for (i = 1; i <= SIGRTMAX; i++) {
		if (i == 32 || i == 33)
			continue;
		if (!!sigismember(&pend, i) != !!sigismember(&all, i)) {
			fail("signal %d is %spending", i, sigismember(&pend, i) ? "" : "not ");
			ret = 1;
		}
	}

	for (n = 0;; n++) {
		int s = sigtimedwait(&all, &si, &zero);

		if (s < 0) {
			if (errno != EAGAIN) {
				fail("sigtimedwait");
				ret = 1;
			}
			break;
		}
		if (n >= nexp) {
			fail("entry %d: an extra signal %d (code %d value %#lx)", n, s, si.si_code,
			     (unsigned long)(uintptr_t)si.si_value.sival_ptr);
			ret = 1;
			continue;
		}
		if (s != expect[n].sig || si.si_signo != s || si.si_code != expect[n].code ||
		    si.si_pid != expect[n].pid || si.si_uid != expect[n].uid ||
		    (uintptr_t)si.si_value.sival_ptr != expect[n].val) {
			fail("entry %d: signal %d code %d pid %d uid %d value %#lx; expected signal %d code %d "
			     "pid %d uid %d value %#lx (%s)", n, s, si.si_code, (int)si.si_pid, (int)si.si_uid,
			     (unsigned long)(uintptr_t)si.si_value.sival_ptr, expect[n].sig, expect[n].code,
			     (int)expect[n].pid, (int)expect[n].uid, (unsigned long)expect[n].val,
			     expect[n].private ? "thread" : "process");
			ret = 1;
			break;
		}
	}
	if (!ret && n != nexp) {
		fail("%d signals dequeued, %d expected", n, nexp);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
