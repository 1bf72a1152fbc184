/*
 * zombie00: children that exited and were never reaped.
 *  - zombie A moved into its own process group and exited with code 42;
 *  - zombie B was killed by SIGUSR2;
 *  - a live child C sleeps beside them.
 * After restore A and B must still be zombies ('Z' in /proc/PID/stat) of the
 * test process with the same pids and A's process group, waitid(WNOWAIT)
 * must report the same exit status / signal without reaping, and then
 * waitpid() must reap them with that status.  C must still be alive.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

/* state, ppid and pgrp from /proc/PID/stat */
static int proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
	char path[64], *buf, *p;
	int pp, pg;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	buf = read_file(path, NULL);
	if (!buf)
		return -1;
	p = strrchr(buf, ')'); /* comm may contain anything */
	if (!p || sscanf(p + 1, " %c %d %d", state, &pp, &pg) != 3) {
		free(buf);
		return -1;
	}
	*ppid = pp;
	*pgrp = pg;
	free(buf);
	return 0;
}

static int check_zombie(pid_t pid, const char *name, int code, int sig, pid_t pgrp)
{
	siginfo_t si;
	pid_t ppid, pg;
	char st;

	if (proc_stat(pid, &st, &ppid, &pg)) {
		fail("zombie %s (%d): no /proc entry", name, (int)pid);
		return 1;
	}
	if (st != 'Z' || ppid != getpid()) {
		fail("zombie %s (%d): state '%c' parent %d, expected 'Z' parent %d", name, (int)pid, st,
		     (int)ppid, (int)getpid());
		return 1;
	}
	if (pgrp && pg != pgrp) {
		fail("zombie %s (%d): process group %d, expected %d", name, (int)pid, (int)pg, (int)pgrp);
		return 1;
	}
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT | WNOHANG) || si.si_pid != pid) {
		fail("zombie %s (%d): waitid(WNOWAIT) does not see it (si_pid %d)", name, (int)pid,
		     (int)si.si_pid);
		return 1;
	}
	if (sig ? (si.si_code != CLD_KILLED || si.si_status != sig)
		: (si.si_code != CLD_EXITED || si.si_status != code)) {
		fail("zombie %s (%d): waitid says code %d status %d, expected %s %d", name, (int)pid,
		     si.si_code, si.si_status, sig ? "killed by" : "exit", sig ? sig : code);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	pid_t a, b, c;
	siginfo_t si;
	int ret = 0, st;

	test_init(argc, argv);

	a = fork();
	if (a < 0) {
		pr_perror("fork");
		return 1;
	}
	if (a == 0) {
		setpgid(0, 0);
		_exit(42);
	}
	b = fork();
	if (b < 0) {
		pr_perror("fork");
		return 1;
	}
	if (b == 0) {
		signal(SIGUSR2, SIG_DFL);
		raise(SIGUSR2);
		_exit(1);
	}
	c = fork();
	if (c < 0) {
		pr_perror("fork");
		return 1;
	}
	if (c == 0) {
		for (;;)
			pause();
	}
	/* wait until both are dead, without reaping them */
	if (waitid(P_PID, a, &si, WEXITED | WNOWAIT) || waitid(P_PID, b, &si, WEXITED | WNOWAIT)) {
		pr_perror("waitid");
		return 1;
	}
	if (check_zombie(a, "A", 42, 0, a) || check_zombie(b, "B", 0, SIGUSR2, 0)) {
		pr_err("zombies are wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_zombie(a, "A", 42, 0, a);
	ret |= check_zombie(b, "B", 0, SIGUSR2, 0);

	/* the live child is still alive, not a zombie */
	if (waitpid(c, &st, WNOHANG) != 0) {
		fail("the live child %d is gone", (int)c);
		ret = 1;
	}
	/* reap: the status must be the one the zombie died with */
	if (waitpid(a, &st, WNOHANG) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 42) {
		fail("reaping zombie A: status %#x, expected exit 42", st);
		ret = 1;
	}
	if (waitpid(b, &st, WNOHANG) != b || !WIFSIGNALED(st) || WTERMSIG(st) != SIGUSR2) {
		fail("reaping zombie B: status %#x, expected killed by SIGUSR2", st);
		ret = 1;
	}
	kill(c, SIGKILL);
	if (wait_exit_code(c) != 128 + SIGKILL) {
		fail("the live child did not die of SIGKILL");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
