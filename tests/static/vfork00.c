/*
 * vfork00: a child created with vfork() that exec'd a long-running program
 * (/bin/sleep 100000).  Before and after C/R the child must be that program:
 * /proc/PID/exe is the same file as /bin/sleep, /proc/PID/cmdline is
 * "sleep 100000", its parent is the test.  After restore it must still be
 * running (not exited, not stopped) and die of the SIGTERM the test sends it.
 * A variable the vfork child wrote into the shared address space before exec
 * must still be seen by the parent (the test's memory is dumped after the
 * child has left it).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PROG "/bin/sleep"

static const char expect_cmdline[] = "sleep\0" "100000"; /* and its final NUL */

static volatile int written_by_child;

static int check_child(pid_t pid)
{
	char path[64], *buf, *p;
	struct stat want, got;
	size_t len;
	int ppid, tries;
	char st = '?';

	/*
	 * vfork() returns in the parent as soon as the child has dropped our
	 * memory, before exec has finished setting up the new program (its
	 * cmdline may still be empty), and sleep needs a moment to go to sleep
	 * after exec or restore: wait until it sleeps, up to 3 s.
	 */
	for (tries = 0; tries < 300; tries++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		buf = read_file(path, NULL);
		p = buf ? strrchr(buf, ')') : NULL;
		if (!p || sscanf(p + 1, " %c %d", &st, &ppid) != 2) {
			fail("can't parse %s", path);
			free(buf);
			return 1;
		}
		free(buf);
		if (st == 'S')
			break;
		usleep(10000);
	}
	if (st != 'S' || ppid != getpid()) {
		fail("child %d: state '%c', parent %d; expected 'S' and %d", (int)pid, st, ppid,
		     (int)getpid());
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(PROG, &want) || stat(path, &got)) {
		fail("can't stat %s or %s", PROG, path);
		return 1;
	}
	if (want.st_dev != got.st_dev || want.st_ino != got.st_ino) {
		fail("child %d runs another program (exe %lx:%lu, %s is %lx:%lu)", (int)pid,
		     (long)got.st_dev, (unsigned long)got.st_ino, PROG, (long)want.st_dev,
		     (unsigned long)want.st_ino);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf = read_file(path, &len);
	if (!buf || len != sizeof(expect_cmdline) || memcmp(buf, expect_cmdline, len)) {
		fail("child %d: cmdline differs (%zu bytes)", (int)pid, buf ? len : 0);
		free(buf);
		return 1;
	}
	free(buf);
	return 0;
}

/* vfork() + execve(): the child only writes a marker, execs or _exits */
static pid_t spawn(void)
{
	char *const cargv[] = { "sleep", "100000", NULL };
	char *const cenv[] = { "PATH=/usr/bin:/bin", NULL };
	pid_t pid;

	pid = vfork();
	if (pid == 0) {
		written_by_child = 0x5eed;
		execve(PROG, cargv, cenv);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	int ret = 0, status;
	pid_t pid;

	test_init(argc, argv);

	if (access(PROG, X_OK))
		skip("%s is not available", PROG);

	pid = spawn();
	if (pid < 0) {
		pr_perror("vfork");
		return 1;
	}
	/* we run again: the child has exec'd (or failed to) */
	if (waitpid(pid, &status, WNOHANG) != 0) {
		pr_err("the vfork child could not exec %s (status %#x)", PROG, status);
		return 1;
	}
	if (written_by_child != 0x5eed) {
		pr_err("vfork did not share memory with the child");
		return 1;
	}
	if (check_child(pid)) {
		pr_err("the child is wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (written_by_child != 0x5eed) {
		fail("the value the vfork child wrote is lost: %#x", written_by_child);
		ret = 1;
	}
	if (waitpid(pid, &status, WNOHANG) != 0) {
		fail("the exec'd child is gone (status %#x)", status);
		return 1;
	}
	ret |= check_child(pid);
	kill(pid, SIGTERM);
	kill(pid, SIGCONT); /* in case it is stopped */
	status = wait_exit_code(pid);
	if (status != 128 + SIGTERM) {
		fail("%s did not die of SIGTERM (exit code %d)", PROG, status);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
