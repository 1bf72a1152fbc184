/*
 * prctl00: per-task state set with prctl().
 *  PR_SET_NAME "zdtm-prctl-main" (and "zdtm-prctl-thr" for a thread),
 *  PR_SET_NO_NEW_PRIVS 1, PR_SET_DUMPABLE stays 1, PR_SET_CHILD_SUBREAPER 1,
 *  PR_SET_PDEATHSIG SIGUSR2 (ignored: the launcher, our parent, exits when
 *  we are ready), PR_SET_THP_DISABLE 1, PR_SET_KEEPCAPS 1.
 * (Not PR_SET_TIMERSLACK: criu 4.2.1 does not save the timer slack, a
 * restored thread gets the default 50000 ns back.)
 * After restore every PR_GET_* answer must be the same (and comm in
 * /proc/self/task/TID/comm, NoNewPrivs: and THP_enabled: in
 * /proc/self/status), and the subreaper must work: the grandchild of an
 * exited child is reparented to the test.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MAIN_NAME "zdtm-prctl-main"
#define THR_NAME "zdtm-prctl-thr"

static task_waiter_t tw;
static volatile int thr_ret = -1;
static pid_t thr_tid;

static int check_comm(pid_t tid, const char *want)
{
	char path[64], name[32] = "", *c;

	if (prctl(PR_GET_NAME, name) || strcmp(name, want)) {
		fail("PR_GET_NAME '%s', expected '%s'", name, want);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
	c = read_file(path, NULL);
	if (!c || strncmp(c, want, strlen(want)) || c[strlen(want)] != '\n') {
		fail("%s: '%s', expected '%s'", path, c ? c : "?", want);
		free(c);
		return 1;
	}
	free(c);
	return 0;
}

static void *thread_fn(void *arg)
{
	int ret = 0;

	(void)arg;
	thr_tid = syscall(SYS_gettid);
	prctl(PR_SET_NAME, THR_NAME);
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	ret |= check_comm(thr_tid, THR_NAME);
	thr_ret = ret;
	return NULL;
}

static int status_field(const char *field)
{
	char *st = read_file("/proc/self/status", NULL), *p;
	int v = -1;

	p = st ? strstr(st, field) : NULL;
	if (p)
		sscanf(p + strlen(field), " %d", &v);
	free(st);
	return v;
}

static int check_main(void)
{
	int ret = 0, v = -1;

	ret |= check_comm(getpid(), MAIN_NAME);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || status_field("\nNoNewPrivs:") != 1) {
		fail("no_new_privs is lost");
		ret = 1;
	}
	if (prctl(PR_GET_DUMPABLE) != 1) {
		fail("PR_GET_DUMPABLE %d, expected 1", prctl(PR_GET_DUMPABLE));
		ret = 1;
	}
	if (prctl(PR_GET_CHILD_SUBREAPER, &v) || v != 1) {
		fail("PR_GET_CHILD_SUBREAPER %d, expected 1", v);
		ret = 1;
	}
	v = -1;
	if (prctl(PR_GET_PDEATHSIG, &v) || v != SIGUSR2) {
		fail("PR_GET_PDEATHSIG %d, expected SIGUSR2", v);
		ret = 1;
	}
	if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 1 || status_field("\nTHP_enabled:") != 0) {
		fail("PR_GET_THP_DISABLE %d (THP_enabled: %d), expected 1 (0)",
		     prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), status_field("\nTHP_enabled:"));
		ret = 1;
	}
	if (prctl(PR_GET_KEEPCAPS) != 1) {
		fail("PR_GET_KEEPCAPS %d, expected 1", prctl(PR_GET_KEEPCAPS));
		ret = 1;
	}
	return ret;
}

/* a child that forks a grandchild and exits: the grandchild must come back to us */
static int check_subreaper(void)
{
	int p[2], ret = 0;
	pid_t child, gc = 0, ppid = 0;

	if (pipe(p))
		return 1;
	child = fork();
	if (child == 0) {
		gc = fork();
		if (gc == 0) {
			close(p[1]);
			/* wait until the middle child is gone */
			while (getppid() != zdtm_test_pid && getppid() != 1)
				usleep(1000);
			ppid = getppid();
			_exit(ppid == zdtm_test_pid ? 0 : 1);
		}
		write(p[1], &gc, sizeof(gc));
		_exit(0);
	}
	close(p[1]);
	if (child < 0 || read(p[0], &gc, sizeof(gc)) != sizeof(gc)) {
		fail("fork");
		return 1;
	}
	close(p[0]);
	wait_exit_code(child);
	if (wait_exit_code(gc) != 0) {
		fail("the orphaned grandchild was not reparented to the subreaper test");
		ret = 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	pthread_t th;
	sigset_t set;
	int ret = 0;

	test_init(argc, argv);

	signal(SIGUSR2, SIG_IGN);
	if (prctl(PR_SET_NAME, MAIN_NAME) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1) || prctl(PR_SET_PDEATHSIG, SIGUSR2) ||
	    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) || prctl(PR_SET_KEEPCAPS, 1)) {
		pr_perror("prctl");
		return 1;
	}
	if (task_waiter_init(&tw))
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, thread_fn, NULL)) {
		pr_err("pthread_create failed");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	task_wait(&tw, 1);
	if (check_main()) {
		pr_err("prctl state wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_main();
	task_complete(&tw, 2);
	pthread_join(th, NULL);
	if (thr_ret) {
		fail("the thread's prctl state changed");
		ret = 1;
	}
	ret |= check_subreaper();
	if (!ret)
		pass();
	return ret;
}
