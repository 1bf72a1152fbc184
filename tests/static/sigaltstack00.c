/*
 * sigaltstack00: alternate signal stacks, per thread.
 *  - main thread: an alternate stack with SS_AUTODISARM;
 *  - thread 1: an alternate stack (flags 0), and during C/R it is parked
 *    *inside* its SIGUSR1 handler, running on that stack;
 *  - thread 2: the alternate stack explicitly disabled (SS_DISABLE).
 * SIGUSR1 has an SA_ONSTACK handler, SIGUSR2 a handler without SA_ONSTACK.
 * After restore:
 *  - sigaltstack() reports the same base, size and flags in every thread;
 *  - thread 1, still in its handler, is on its alternate stack (SS_ONSTACK,
 *    the handler's locals within it), returns from the handler normally
 *    (its pre-signal locals intact) and is then off the stack again;
 *  - SIGUSR1 raised in each thread runs on that thread's alternate stack
 *    (main, thread 1) or on the normal stack (thread 2); SIGUSR2 always on
 *    the normal stack.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

#define ALT_SIZE (64 * 1024)

static unsigned char alt0[ALT_SIZE] __attribute__((aligned(16)));
static unsigned char *alt1;

static __thread volatile uintptr_t h_sp;	/* a local's address in the last handler */
static __thread volatile int h_count;
static __thread volatile int park;		/* thread 1: wait inside the handler */
static __thread stack_t h_ss;			/* sigaltstack() seen inside the parked handler */
static __thread volatile uintptr_t park_sp;

static task_waiter_t tw, tw2; /* thread 1, thread 2 */
static volatile int t1_result = -1, t2_result = -1;

static void handler(int sig)
{
	volatile int local = sig;

	h_sp = (uintptr_t)&local;
	h_count++;
	if (park) {
		park = 0;
		task_complete(&tw, 1);	/* parked on the alternate stack */
		task_wait(&tw, 2);	/* ... C/R happens ... */
		sigaltstack(NULL, &h_ss);
		park_sp = (uintptr_t)&local;
	}
}

static int on(uintptr_t sp, const void *base, size_t size)
{
	return sp >= (uintptr_t)base && sp < (uintptr_t)base + size;
}

static int check_ss(const char *who, const void *sp, size_t size, int flags)
{
	stack_t ss;

	if (sigaltstack(NULL, &ss)) {
		fail("%s: sigaltstack", who);
		return 1;
	}
	if (flags & SS_DISABLE) {
		if (ss.ss_flags != SS_DISABLE) {
			fail("%s: alternate stack flags %#x, expected SS_DISABLE", who, ss.ss_flags);
			return 1;
		}
		return 0;
	}
	if (ss.ss_sp != sp || ss.ss_size != size || ss.ss_flags != flags) {
		fail("%s: alternate stack %p/%zu/%#x, expected %p/%zu/%#x", who, ss.ss_sp, ss.ss_size,
		     ss.ss_flags, sp, size, flags);
		return 1;
	}
	return 0;
}

/* raise SIGUSR1 and SIGUSR2 in this thread; alt: where SIGUSR1 must run (NULL: normal stack) */
static int check_delivery(const char *who, const void *alt, size_t size)
{
	int n = h_count, ret = 0;

	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	if (h_count != n + 1) {
		fail("%s: SIGUSR1 handler did not run", who);
		return 1;
	}
	if (alt && !on(h_sp, alt, size)) {
		fail("%s: SIGUSR1 handler ran at %#lx, not on the alternate stack %p", who,
		     (unsigned long)h_sp, alt);
		ret = 1;
	}
	if (!alt && (on(h_sp, alt0, ALT_SIZE) || on(h_sp, alt1, ALT_SIZE))) {
		fail("%s: SIGUSR1 handler ran on an alternate stack", who);
		ret = 1;
	}
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
	if (h_count != n + 2 || on(h_sp, alt0, ALT_SIZE) || on(h_sp, alt1, ALT_SIZE)) {
		fail("%s: SIGUSR2 (no SA_ONSTACK) did not run on the normal stack", who);
		ret = 1;
	}
	return ret;
}

static void *thread1(void *arg)
{
	stack_t ss = { .ss_sp = alt1, .ss_size = ALT_SIZE, .ss_flags = 0 };
	volatile unsigned long before = 0x1234abcdUL;
	int ret = 0;

	(void)arg;
	if (sigaltstack(&ss, NULL)) {
		t1_result = 2;
		task_complete(&tw, 1);
		return NULL;
	}
	park = 1;
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	/* back from the handler, after C/R */
	if (h_ss.ss_flags != SS_ONSTACK || h_ss.ss_sp != alt1 || h_ss.ss_size != ALT_SIZE) {
		fail("thread 1: inside the handler sigaltstack said %p/%zu/%#x, expected %p/%d/SS_ONSTACK",
		     h_ss.ss_sp, h_ss.ss_size, h_ss.ss_flags, alt1, ALT_SIZE);
		ret = 1;
	}
	if (!on(park_sp, alt1, ALT_SIZE)) {
		fail("thread 1: the parked handler is not on the alternate stack after restore");
		ret = 1;
	}
	if (before != 0x1234abcdUL) {
		fail("thread 1: a local changed across the signal handler");
		ret = 1;
	}
	ret |= check_ss("thread 1", alt1, ALT_SIZE, 0);
	ret |= check_delivery("thread 1", alt1, ALT_SIZE);
	t1_result = ret;
	return NULL;
}

static void *thread2(void *arg)
{
	stack_t ss = { .ss_flags = SS_DISABLE };
	int ret;

	(void)arg;
	if (sigaltstack(&ss, NULL)) {
		t2_result = 2;
		task_complete(&tw2, 1);
		return NULL;
	}
	task_complete(&tw2, 1);
	task_wait(&tw2, 2);
	ret = check_ss("thread 2", NULL, 0, SS_DISABLE);
	ret |= check_delivery("thread 2", NULL, 0);
	t2_result = ret;
	return NULL;
}

int main(int argc, char **argv)
{
	stack_t ss = { .ss_sp = alt0, .ss_size = ALT_SIZE, .ss_flags = SS_AUTODISARM };
	struct sigaction sa;
	pthread_t t1, t2;
	sigset_t term;
	int ret = 0;

	test_init(argc, argv);

	alt1 = aligned_alloc(16, ALT_SIZE);
	if (!alt1 || task_waiter_init(&tw) || task_waiter_init(&tw2))
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);

	if (sigaltstack(&ss, NULL)) {
		if (errno == EINVAL)
			skip("SS_AUTODISARM is not supported");
		pr_perror("sigaltstack");
		return 1;
	}
	if (check_delivery("main", alt0, ALT_SIZE) || check_ss("main", alt0, ALT_SIZE, SS_AUTODISARM)) {
		pr_err("alternate stack wrong before C/R");
		return 1;
	}

	/* SIGTERM goes to the main thread */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	if (pthread_create(&t1, NULL, thread1, NULL) || pthread_create(&t2, NULL, thread2, NULL)) {
		pr_err("pthread_create failed");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	task_wait(&tw, 1);
	task_wait(&tw2, 1);
	if (t1_result == 2 || t2_result == 2) {
		pr_err("sigaltstack in a thread failed");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_ss("main", alt0, ALT_SIZE, SS_AUTODISARM);
	ret |= check_delivery("main", alt0, ALT_SIZE);
	task_complete(&tw, 2);
	task_complete(&tw2, 2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (t1_result || t2_result) {
		fail("thread checks failed (thread 1: %d, thread 2: %d)", t1_result, t2_result);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
