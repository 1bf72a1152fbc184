/*
 * posix_lock00: POSIX record locks (fcntl F_SETLK; criu --file-locks).
 * The test holds, on one file:
 *   [0, 100)      F_WRLCK
 *   [200, 300)    F_RDLCK
 *   [1000, EOF)   F_WRLCK (l_len 0: to the end, however far)
 * and a child process of the test holds F_RDLCK on [250, 400) of the same
 * file through its own open.
 * After restore, a helper opens the file and asks F_GETLK about a set of
 * ranges; each answer must name the right conflicting lock (type, start,
 * length and owner pid) or F_UNLCK where nothing conflicts.  Then the test
 * unlocks [0, 100) and the helper can lock it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

static task_waiter_t tw;
static pid_t test_pid, child_pid;

struct probe {
	short type;		/* the lock asked for */
	off_t start, len;
	short c_type;		/* the conflicting lock expected (F_UNLCK: none) */
	off_t c_start, c_len;
	int c_child;		/* the conflicting lock is the child's */
};

static const struct probe probes[] = {
	{ F_RDLCK, 0, 1, F_WRLCK, 0, 100, 0 },
	{ F_RDLCK, 99, 2, F_WRLCK, 0, 100, 0 },
	{ F_WRLCK, 100, 100, F_UNLCK, 0, 0, 0 },
	{ F_RDLCK, 200, 100, F_UNLCK, 0, 0, 0 },	/* read locks share */
	{ F_WRLCK, 200, 10, F_RDLCK, 200, 100, 0 },
	{ F_WRLCK, 300, 10, F_RDLCK, 250, 150, 1 },	/* only the child's lock there */
	{ F_WRLCK, 400, 600, F_UNLCK, 0, 0, 0 },
	{ F_RDLCK, 999, 1, F_UNLCK, 0, 0, 0 },
	{ F_RDLCK, 5000000, 1, F_WRLCK, 1000, 0, 0 },
};

static int set_lock(int fd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	return fcntl(fd, F_SETLK, &fl);
}

/* exit code: index of the first wrong probe + 1, or 0 */
static int prober(void *arg)
{
	unsigned i;
	int fd = open(filename, O_RDWR);

	(void)arg;
	if (fd < 0)
		return 100;
	for (i = 0; i < ARRAY_SIZE(probes); i++) {
		const struct probe *p = &probes[i];
		struct flock fl = { .l_type = p->type, .l_whence = SEEK_SET, .l_start = p->start, .l_len = p->len };

		if (fcntl(fd, F_GETLK, &fl))
			return 101;
		if (fl.l_type != p->c_type)
			goto bad;
		if (p->c_type == F_UNLCK)
			continue;
		if (fl.l_start != p->c_start || fl.l_len != p->c_len ||
		    fl.l_pid != (p->c_child ? child_pid : test_pid))
			goto bad;
		continue;
bad:
		test_msg("probe %u (%s lock on [%lld, +%lld)): F_GETLK says type %d [%lld, +%lld) pid %d", i + 1,
			 p->type == F_RDLCK ? "read" : "write", (long long)p->start, (long long)p->len,
			 fl.l_type, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid);
		return i + 1;
	}
	return 0;
}

static int free_range(void *arg)
{
	int fd = open(filename, O_RDWR);

	(void)arg;
	return fd < 0 || set_lock(fd, F_WRLCK, 0, 100) ? 1 : 0;
}

static int child(void *arg)
{
	int fd = open(filename, O_RDONLY);

	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd < 0 || set_lock(fd, F_RDLCK, 250, 150))
		return 1;
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	return 0;
}

int main(int argc, char **argv)
{
	int fd, r, ret = 0;

	test_init(argc, argv);
	test_pid = getpid();

	fd = open(filename, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		pr_perror("create %s", filename);
		return 1;
	}
	if (set_lock(fd, F_WRLCK, 0, 100) || set_lock(fd, F_RDLCK, 200, 100) || set_lock(fd, F_WRLCK, 1000, 0)) {
		pr_perror("F_SETLK");
		return 1;
	}
	if (task_waiter_init(&tw))
		return 1;
	child_pid = test_fork_helper(child, NULL);
	if (child_pid < 0) {
		pr_perror("fork");
		return 1;
	}
	task_wait(&tw, 1);
	r = wait_exit_code(test_fork_helper(prober, NULL));
	if (r) {
		pr_err("F_GETLK probe %d is wrong even before the checkpoint", r);
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	r = wait_exit_code(test_fork_helper(prober, NULL));
	if (r > 0 && r <= (int)ARRAY_SIZE(probes)) {
		fail("F_GETLK from another process: probe %d got the wrong answer (see the line above)", r);
		ret = 1;
	} else if (r) {
		fail("the prober failed (%d)", r);
		ret = 1;
	}
	if (set_lock(fd, F_UNLCK, 0, 100) || wait_exit_code(test_fork_helper(free_range, NULL))) {
		fail("after unlocking [0, 100) another process still cannot lock it");
		ret = 1;
	}
	task_complete(&tw, 2);
	if (wait_exit_code(child_pid)) {
		fail("the child exited badly");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
