/*
 * pthread00: a multi-threaded task.  Each thread has its own TLS value,
 * name, blocked-signal mask, tid and a buffer of datagen() data on its
 * stack.  After restore every thread checks its own state (the main thread
 * wakes them through a futex) and the main thread checks the thread count
 * and the names from /proc.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NR_THREADS 4
#define STACK_DATA 8192

static __thread unsigned long tls_value = 0x1111;
static __thread char tls_tag[32];

struct thread_arg {
	int idx;
	pid_t tid;
	int result; /* 0 ok, 1 failed, -1 not checked */
	task_waiter_t started;
};

static task_waiter_t go;
static struct thread_arg args[NR_THREADS];

static unsigned long tls_expected(int idx)
{
	return 0xC0FFEE00UL + (unsigned long)idx * 0x101;
}

static int check_self(struct thread_arg *a, const unsigned char *stack_buf, int sig)
{
	char name[16], expect_name[16];
	uint32_t crc = ~0u;
	sigset_t cur;
	int ret = 0;

	if (tls_value != tls_expected(a->idx)) {
		fail("thread %d: TLS value %#lx, expected %#lx", a->idx, tls_value, tls_expected(a->idx));
		ret = 1;
	}
	snprintf(expect_name, sizeof(expect_name), "zdtm-t%d", a->idx);
	if (strcmp(tls_tag, expect_name)) {
		fail("thread %d: TLS string '%s'", a->idx, tls_tag);
		ret = 1;
	}
	if (syscall(SYS_gettid) != a->tid) {
		fail("thread %d: tid %ld, expected %d", a->idx, syscall(SYS_gettid), (int)a->tid);
		ret = 1;
	}
	if (pthread_getname_np(pthread_self(), name, sizeof(name)) || strcmp(name, expect_name)) {
		fail("thread %d: name '%s', expected '%s'", a->idx, name, expect_name);
		ret = 1;
	}
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	if (!sigismember(&cur, sig) || !sigismember(&cur, SIGTERM) ||
	    (a->idx % 2 == 0) != !!sigismember(&cur, SIGUSR2)) {
		fail("thread %d: blocked signal mask changed", a->idx);
		ret = 1;
	}
	if (datachk(stack_buf, STACK_DATA, &crc)) {
		fail("thread %d: stack data corrupted", a->idx);
		ret = 1;
	}
	return ret;
}

static void *thread_fn(void *p)
{
	struct thread_arg *a = p;
	unsigned char stack_buf[STACK_DATA];
	uint32_t crc = ~0u;
	char name[16];
	sigset_t set;
	int sig = SIGRTMIN + a->idx;

	a->tid = (pid_t)syscall(SYS_gettid);
	tls_value = tls_expected(a->idx);
	snprintf(name, sizeof(name), "zdtm-t%d", a->idx);
	strcpy(tls_tag, name);
	pthread_setname_np(pthread_self(), name);

	/* per-thread mask: SIGTERM (inherited), its own RT signal, SIGUSR2 for even threads */
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (a->idx % 2 == 0)
		sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	datagen(stack_buf, sizeof(stack_buf), &crc);
	if (check_self(a, stack_buf, sig)) {
		a->result = 1;
		task_complete(&a->started, 1);
		return NULL;
	}
	task_complete(&a->started, 1);

	task_wait(&go, 1);
	a->result = check_self(a, stack_buf, sig);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NR_THREADS];
	sigset_t set;
	char *status;
	const char *p;
	int i, ret = 0;

	test_init(argc, argv);

	if (task_waiter_init(&go))
		return 1;
	/* threads inherit a blocked SIGTERM: it goes to the main thread */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	tls_value = 0xDEAD;
	strcpy(tls_tag, "main");
	for (i = 0; i < NR_THREADS; i++) {
		args[i].idx = i;
		args[i].result = -1;
		if (task_waiter_init(&args[i].started))
			return 1;
		if (pthread_create(&th[i], NULL, thread_fn, &args[i])) {
			pr_err("pthread_create failed");
			return 1;
		}
		task_wait(&args[i].started, 1);
		if (args[i].result == 1) {
			pr_err("thread %d failed its check before C/R", i);
			return 1;
		}
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	test_daemon();
	test_waitsig();

	status = read_file("/proc/self/status", NULL);
	p = status ? strstr(status, "\nThreads:") : NULL;
	if (!p || atoi(p + 9) != NR_THREADS + 1) {
		fail("expected %d threads in /proc/self/status", NR_THREADS + 1);
		ret = 1;
	}
	free(status);
	if (tls_value != 0xDEAD || strcmp(tls_tag, "main")) {
		fail("main thread: TLS changed (%#lx, '%s')", tls_value, tls_tag);
		ret = 1;
	}

	task_complete(&go, 1);
	for (i = 0; i < NR_THREADS; i++) {
		pthread_join(th[i], NULL);
		if (args[i].result != 0) {
			fail("thread %d failed its checks", i);
			ret = 1;
		}
	}
	if (!ret)
		pass();
	return ret;
}
