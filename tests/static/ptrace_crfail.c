/*
 * ptrace_crfail: the test ptraces (PTRACE_SEIZE) a child of its own.
 * criu cannot dump a tree in which one task traces another, so the dump
 * must be refused (.desc: flags crfail).  After SIGTERM the test checks that
 * the child is still alive and still traced by it.
 * Skips if ptrace is not permitted here (yama ptrace_scope >= 2, seccomp...).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "zdtmtst.h"

static task_waiter_t tw;

static int tracer_pid_of(pid_t pid)
{
	char path[64], *status, *p;
	int tracer = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	status = read_file(path, NULL);
	if (status && (p = strstr(status, "\nTracerPid:")))
		tracer = atoi(p + 11);
	free(status);
	return tracer;
}

int main(int argc, char **argv)
{
	char *scope;
	pid_t pid;
	int ret = 0, tracer, code;

	test_init(argc, argv);

	scope = read_file("/proc/sys/kernel/yama/ptrace_scope", NULL);
	if (scope && atoi(scope) >= 2)
		skip("yama ptrace_scope is %d: a non-root task may not ptrace", atoi(scope));
	free(scope);

	if (task_waiter_init(&tw))
		return 1;
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		task_wait(&tw, 1);
		_exit(0);
	}

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL)) {
		int e = errno;

		kill(pid, SIGKILL);
		wait_exit_code(pid);
		skip("PTRACE_SEIZE of our own child is not permitted: %s", strerror(e));
	}
	tracer = tracer_pid_of(pid);
	if (tracer != getpid()) {
		pr_err("child %d: TracerPid %d, expected %d", (int)pid, tracer, (int)getpid());
		return 1;
	}

	test_daemon();
	test_waitsig();

	tracer = tracer_pid_of(pid);
	if (tracer != getpid()) {
		fail("child %d: TracerPid %d, expected us (%d)", (int)pid, tracer, (int)getpid());
		ret = 1;
	}
	task_complete(&tw, 1);
	code = wait_exit_code(pid);
	if (code != 0) {
		fail("the traced child exited with %d", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
