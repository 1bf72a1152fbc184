/*
 * lock_crfail: the test holds file locks -- an flock() LOCK_EX and a POSIX
 * F_WRLCK record lock -- and criu is run without --file-locks.  criu must
 * refuse the dump rather than silently drop the locks.  After SIGTERM the
 * test checks that the refused dump left both locks in place: a helper
 * process still cannot take either of them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

static char path_f[4096], path_p[4096];

/* bit 0: the flock could be taken, bit 1: the POSIX lock could be taken */
static int probe(void *arg)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int f = open(path_f, O_RDONLY), p = open(path_p, O_RDWR), bits = 0;

	(void)arg;
	if (f < 0 || p < 0)
		return 4;
	if (flock(f, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		bits |= 1;
	if (fcntl(p, F_SETLK, &fl) == 0 || (errno != EAGAIN && errno != EACCES))
		bits |= 2;
	return bits;
}

int main(int argc, char **argv)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int f, p, bits, ret = 0;

	test_init(argc, argv);

	snprintf(path_f, sizeof(path_f), "%s.flock", filename);
	snprintf(path_p, sizeof(path_p), "%s.posix", filename);
	f = open(path_f, O_RDWR | O_CREAT | O_EXCL, 0644);
	p = open(path_p, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (f < 0 || p < 0) {
		pr_perror("create %s", filename);
		return 1;
	}
	if (flock(f, LOCK_EX | LOCK_NB) || fcntl(p, F_SETLK, &fl)) {
		pr_perror("flock/F_SETLK");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	bits = wait_exit_code(test_fork_helper(probe, NULL));
	if (bits & 1) {
		fail("another process could take the flock() LOCK_EX held by the test");
		ret = 1;
	}
	if (bits & 2) {
		fail("another process could take the POSIX write lock held by the test");
		ret = 1;
	}
	if (bits & ~3) {
		fail("the probe failed (%d)", bits);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
