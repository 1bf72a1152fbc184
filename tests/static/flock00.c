/*
 * flock00: BSD flock() locks (criu --file-locks).
 *  - file X: LOCK_EX held through fd x;
 *  - file S: LOCK_SH held through fd s, and through a child process that
 *    inherited s (one lock, shared by the open file description).
 * After restore, a helper process opens the files afresh and probes with
 * LOCK_NB: X cannot be locked at all, S can be locked shared but not
 * exclusively.  /proc/locks lists the FLOCK locks on both inodes.  Then
 * the test unlocks X and the helper can take it exclusively -- the lock
 * it ran into was ours.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

static char path_x[4096], path_s[4096];
static task_waiter_t tw;

/* 0: lock taken (and dropped), 1: EWOULDBLOCK, 2: other error */
static int try_flock(const char *path, int op)
{
	int fd = open(path, O_RDONLY), r;

	if (fd < 0)
		return 2;
	r = flock(fd, op | LOCK_NB);
	if (r == 0) {
		close(fd);
		return 0;
	}
	r = errno == EWOULDBLOCK ? 1 : 2;
	close(fd);
	return r;
}

/* the probe: exit code bit i set when probe i went wrong */
static int probe(void *arg)
{
	int bits = 0;

	(void)arg;
	if (try_flock(path_x, LOCK_SH) != 1)
		bits |= 1;
	if (try_flock(path_x, LOCK_EX) != 1)
		bits |= 2;
	if (try_flock(path_s, LOCK_SH) != 0)
		bits |= 4;
	if (try_flock(path_s, LOCK_EX) != 1)
		bits |= 8;
	return bits;
}

static int probe_x_free(void *arg)
{
	(void)arg;
	return try_flock(path_x, LOCK_EX);
}

static int holder(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	task_wait(&tw, 1);
	return 0;
}

/* number of FLOCK lines in /proc/locks for this inode with this mode */
static int count_locks(int fd, const char *mode)
{
	char *locks = read_file("/proc/locks", NULL), *p, pat[128];
	struct stat st;
	int n = 0;

	if (!locks || fstat(fd, &st))
		return -1;
	snprintf(pat, sizeof(pat), "%02x:%02x:%lu ", major(st.st_dev), minor(st.st_dev),
		 (unsigned long)st.st_ino);
	for (p = strtok(locks, "\n"); p; p = strtok(NULL, "\n"))
		if (strstr(p, " FLOCK ") && strstr(p, mode) && strstr(p, pat))
			n++;
	free(locks);
	return n;
}

int main(int argc, char **argv)
{
	int x, s, bits, ret = 0;
	pid_t pid;

	test_init(argc, argv);

	snprintf(path_x, sizeof(path_x), "%s.x", filename);
	snprintf(path_s, sizeof(path_s), "%s.s", filename);
	x = open(path_x, O_RDWR | O_CREAT | O_EXCL, 0644);
	s = open(path_s, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (x < 0 || s < 0) {
		pr_perror("create %s", filename);
		return 1;
	}
	if (flock(x, LOCK_EX | LOCK_NB) || flock(s, LOCK_SH | LOCK_NB)) {
		pr_perror("flock");
		return 1;
	}
	if (task_waiter_init(&tw))
		return 1;
	pid = test_fork_helper(holder, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	bits = wait_exit_code(test_fork_helper(probe, NULL));
	if (bits) {
		pr_err("the locks do not behave as expected even before the checkpoint (%#x)", bits);
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	bits = wait_exit_code(test_fork_helper(probe, NULL));
	if (bits & 3) {
		fail("another process could lock %s (LOCK_EX held by the test): %s", path_x,
		     bits & 1 ? "shared" : "exclusively");
		ret = 1;
	}
	if (bits & 4) {
		fail("another process could not take a shared lock on %s (only LOCK_SH held)", path_s);
		ret = 1;
	}
	if (bits & 8) {
		fail("another process could lock %s exclusively (LOCK_SH held by the test)", path_s);
		ret = 1;
	}
	if (bits & ~15) {
		fail("the probe failed (%d)", bits);
		ret = 1;
	}
	if (count_locks(x, "WRITE") != 1 || count_locks(s, "READ") != 1) {
		fail("/proc/locks: %d WRITE locks on X, %d READ locks on S; expected one each",
		     count_locks(x, "WRITE"), count_locks(s, "READ"));
		ret = 1;
	}
	if (flock(x, LOCK_UN) || wait_exit_code(test_fork_helper(probe_x_free, NULL)) != 0) {
		fail("after LOCK_UN another process still cannot lock %s", path_x);
		ret = 1;
	}
	task_complete(&tw, 1);
	if (wait_exit_code(pid) != 0) {
		fail("the child holding S exited badly");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
