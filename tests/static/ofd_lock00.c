/*
 * ofd_lock00: open file description locks (F_OFD_SETLK; criu --file-locks).
 * Through fd a (one open of the file) the test holds
 *   [0, 10)     F_WRLCK
 *   [100, 200)  F_RDLCK
 * and through fd b (a second open of the same file) F_WRLCK on [500, 600).
 * fd a2 is a dup() of a, so it shares a's locks.
 * After restore: F_OFD_GETLK through b sees a's write lock on [0, 10) (with
 * l_pid -1, as for every OFD lock) and none on [100, 200) for reading;
 * F_OFD_GETLK through a2 sees no conflict on [0, 10) (same description),
 * but sees b's lock on [500, 600); a helper process opening the file
 * itself sees all three; b can share [100, 200) for reading but not write
 * it; and after a unlocks [0, 10), b can lock it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

static int lk(int fd, int cmd, short type, off_t start, off_t len, struct flock *out)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	int r = fcntl(fd, cmd, &fl);

	if (out)
		*out = fl;
	return r;
}

/* F_OFD_GETLK: 0 if the answer is the expected conflict (or F_UNLCK) */
static int getlk(int fd, short type, off_t start, off_t len, short c_type, off_t c_start, off_t c_len,
		 const char *what)
{
	struct flock fl;

	if (lk(fd, F_OFD_GETLK, type, start, len, &fl)) {
		fail("%s: F_OFD_GETLK", what);
		return 1;
	}
	if (fl.l_type != c_type ||
	    (c_type != F_UNLCK && (fl.l_start != c_start || fl.l_len != c_len || fl.l_pid != -1))) {
		fail("%s: F_OFD_GETLK says type %d [%lld, +%lld) pid %d, expected type %d [%lld, +%lld) pid -1",
		     what, fl.l_type, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid, c_type,
		     (long long)c_start, (long long)c_len);
		return 1;
	}
	return 0;
}

static int check_all(int fd, const char *who)
{
	char what[128];
	int ret = 0;

	snprintf(what, sizeof(what), "%s, [0, 10)", who);
	ret |= getlk(fd, F_RDLCK, 0, 10, F_WRLCK, 0, 10, what);
	snprintf(what, sizeof(what), "%s, [150, 160) for writing", who);
	ret |= getlk(fd, F_WRLCK, 150, 10, F_RDLCK, 100, 100, what);
	snprintf(what, sizeof(what), "%s, [550, 551)", who);
	ret |= getlk(fd, F_RDLCK, 550, 1, F_WRLCK, 500, 100, what);
	snprintf(what, sizeof(what), "%s, [10, 100)", who);
	ret |= getlk(fd, F_WRLCK, 10, 90, F_UNLCK, 0, 0, what);
	return ret;
}

static int helper(void *arg)
{
	int fd = open(filename, O_RDWR);

	(void)arg;
	return fd < 0 || check_all(fd, "another process");
}

int main(int argc, char **argv)
{
	int a, a2, b, ret = 0;

	test_init(argc, argv);

	a = open(filename, O_RDWR | O_CREAT | O_EXCL, 0644);
	b = open(filename, O_RDWR);
	a2 = dup(a);
	if (a < 0 || b < 0 || a2 < 0) {
		pr_perror("open %s", filename);
		return 1;
	}
	if (lk(a, F_OFD_SETLK, F_WRLCK, 0, 10, NULL) || lk(a, F_OFD_SETLK, F_RDLCK, 100, 100, NULL) ||
	    lk(b, F_OFD_SETLK, F_WRLCK, 500, 100, NULL)) {
		if (errno == EINVAL)
			skip("no OFD locks in this kernel");
		pr_perror("F_OFD_SETLK");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	ret |= getlk(b, F_RDLCK, 0, 10, F_WRLCK, 0, 10, "fd b, [0, 10)");
	ret |= getlk(b, F_RDLCK, 100, 100, F_UNLCK, 0, 0, "fd b, [100, 200) for reading");
	ret |= getlk(b, F_WRLCK, 150, 10, F_RDLCK, 100, 100, "fd b, [150, 160) for writing");
	ret |= getlk(a2, F_WRLCK, 0, 10, F_UNLCK, 0, 0, "fd a2 (dup of a), [0, 10)");
	ret |= getlk(a2, F_WRLCK, 500, 100, F_WRLCK, 500, 100, "fd a2 (dup of a), [500, 600)");
	if (wait_exit_code(test_fork_helper(helper, NULL))) {
		fail("another process does not see the locks (see above)");
		ret = 1;
	}
	if (lk(b, F_OFD_SETLK, F_RDLCK, 100, 100, NULL)) {
		fail("fd b cannot share the read lock on [100, 200)");
		ret = 1;
	}
	errno = 0;
	if (lk(b, F_OFD_SETLK, F_WRLCK, 0, 10, NULL) == 0 || (errno != EAGAIN && errno != EACCES)) {
		fail("fd b could lock [0, 10), which a holds for writing");
		ret = 1;
	}
	errno = 0;
	if (lk(a2, F_OFD_SETLK, F_UNLCK, 0, 10, NULL) || lk(b, F_OFD_SETLK, F_WRLCK, 0, 10, NULL)) {
		fail("after unlocking [0, 10) through a2, b still cannot lock it");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
