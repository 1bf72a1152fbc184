/*
 * threads01: a big thread group and a forked multi-threaded process.
 * The test process runs 64 threads, a forked child 16.  Every thread has its
 * own TLS value, a datagen() buffer on its stack, a nice value (0..7) and
 * every 5th thread SCHED_BATCH, every 7th SCHED_IDLE scheduling policy.
 * After restore each thread checks its tid, TLS, stack data, nice value
 * and policy; each process checks that /proc/self/task lists exactly its
 * threads (same tids).  The child reports through its exit code.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PARENT_THREADS 64
#define CHILD_THREADS 16
#define MAX_THREADS PARENT_THREADS
#define STACK_DATA 2048

static __thread unsigned long tls_value;

struct th {
	int idx;
	pid_t tid;
	volatile int result; /* 0 ok, 1 failed */
};

static struct th ths[MAX_THREADS];
static int nr_threads;
static task_waiter_t started, go;
static volatile int checked;

static int want_nice(int idx)
{
	return idx % 8;
}

static int want_policy(int idx)
{
	if (idx % 7 == 3)
		return SCHED_IDLE;
	if (idx % 5 == 1)
		return SCHED_BATCH;
	return SCHED_OTHER;
}

static unsigned long want_tls(int idx)
{
	return 0x7ead0000UL + (unsigned long)getpid() * 0x100 + idx;
}

static int check_thread(struct th *t, const unsigned char *buf)
{
	uint32_t crc = ~0u;
	int nice, pol;

	if (syscall(SYS_gettid) != t->tid) {
		fail("thread %d: tid %ld, expected %d", t->idx, syscall(SYS_gettid), (int)t->tid);
		return 1;
	}
	if (tls_value != want_tls(t->idx)) {
		fail("thread %d: TLS %#lx, expected %#lx", t->idx, tls_value, want_tls(t->idx));
		return 1;
	}
	if (datachk(buf, STACK_DATA, &crc)) {
		fail("thread %d: stack data corrupted", t->idx);
		return 1;
	}
	errno = 0;
	nice = getpriority(PRIO_PROCESS, t->tid);
	if (errno || nice != want_nice(t->idx)) {
		fail("thread %d: nice %d, expected %d", t->idx, nice, want_nice(t->idx));
		return 1;
	}
	pol = sched_getscheduler(t->tid);
	if (pol != want_policy(t->idx)) {
		fail("thread %d: scheduling policy %d, expected %d", t->idx, pol, want_policy(t->idx));
		return 1;
	}
	return 0;
}

static void *thread_fn(void *arg)
{
	struct th *t = arg;
	unsigned char buf[STACK_DATA];
	struct sched_param sp = { .sched_priority = 0 };
	uint32_t crc = ~0u;

	t->tid = syscall(SYS_gettid);
	tls_value = want_tls(t->idx);
	datagen(buf, sizeof(buf), &crc);
	if (setpriority(PRIO_PROCESS, t->tid, want_nice(t->idx)) ||
	    sched_setscheduler(t->tid, want_policy(t->idx), &sp)) {
		pr_perror("thread %d: setpriority/sched_setscheduler", t->idx);
		t->result = 1;
	} else {
		t->result = check_thread(t, buf);
	}
	__sync_fetch_and_add(started.word, 1);
	task_wait(&go, 1);
	t->result |= check_thread(t, buf);
	__sync_fetch_and_add(&checked, 1);
	return NULL;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

/* /proc/self/task must hold exactly our main thread and ths[].tid */
static int check_task_dir(void)
{
	pid_t listed[MAX_THREADS + 8], want[MAX_THREADS + 1];
	struct dirent *de;
	int n = 0, i;
	DIR *d;

	d = opendir("/proc/self/task");
	if (!d) {
		fail("opendir /proc/self/task");
		return 1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == (int)ARRAY_SIZE(listed))
			break;
		listed[n++] = atoi(de->d_name);
	}
	closedir(d);
	if (n != nr_threads + 1) {
		fail("%d threads in /proc/self/task, expected %d", n, nr_threads + 1);
		return 1;
	}
	want[0] = getpid();
	for (i = 0; i < nr_threads; i++)
		want[i + 1] = ths[i].tid;
	qsort(listed, n, sizeof(pid_t), cmp_pid);
	qsort(want, n, sizeof(pid_t), cmp_pid);
	if (memcmp(listed, want, n * sizeof(pid_t))) {
		fail("the tids in /proc/self/task changed");
		return 1;
	}
	return 0;
}

static int start_threads(int n, pthread_t *pth)
{
	pthread_attr_t attr;
	int i;

	nr_threads = n;
	if (task_waiter_init(&started) || task_waiter_init(&go))
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 0; i < n; i++) {
		ths[i].idx = i;
		if (pthread_create(&pth[i], &attr, thread_fn, &ths[i])) {
			pr_err("pthread_create %d failed", i);
			return 1;
		}
	}
	while (*(volatile uint32_t *)started.word != (uint32_t)n)
		usleep(1000);
	for (i = 0; i < n; i++)
		if (ths[i].result) {
			pr_err("thread %d failed its check before C/R", i);
			return 1;
		}
	return 0;
}

static int finish_threads(pthread_t *pth)
{
	int ret = check_task_dir(), i;

	task_complete(&go, 1);
	for (i = 0; i < nr_threads; i++) {
		pthread_join(pth[i], NULL);
		if (ths[i].result)
			ret = 1;
	}
	if (checked != nr_threads) {
		fail("only %d of %d threads checked themselves", checked, nr_threads);
		ret = 1;
	}
	return ret;
}

static task_waiter_t child_tw;

static int child(void *arg)
{
	pthread_t pth[CHILD_THREADS];

	(void)arg;
	if (start_threads(CHILD_THREADS, pth))
		return 2;
	task_complete(&child_tw, 1);
	task_wait(&child_tw, 2);
	return finish_threads(pth);
}

int main(int argc, char **argv)
{
	pthread_t pth[PARENT_THREADS];
	sigset_t set;
	int ret, code;
	pid_t pid;

	test_init(argc, argv);

	if (task_waiter_init(&child_tw))
		return 1;
	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	task_wait(&child_tw, 1);

	/* SIGTERM goes to the main thread */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (start_threads(PARENT_THREADS, pth))
		return 1;
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	test_daemon();
	test_waitsig();

	ret = finish_threads(pth);
	task_complete(&child_tw, 2);
	code = wait_exit_code(pid);
	if (code != 0) {
		fail("the multi-threaded child failed its checks (exit code %d)", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
