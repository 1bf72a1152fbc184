/*
 * file_flags00: open-file status flags beyond the access mode.  One file,
 * four descriptions:
 *  - fd1: O_RDWR | O_NOATIME | O_SYNC;
 *  - fd2: O_WRONLY | O_DSYNC | O_APPEND, and FD_CLOEXEC on the fd;
 *  - fd3: O_RDONLY | O_NONBLOCK | O_DIRECT (O_DIRECT dropped if the file
 *    system refuses it);
 *  - fd4: O_RDONLY, with O_NOATIME added later by fcntl(F_SETFL).
 * After restore: each fd has exactly its flags (F_GETFL, FD_CLOEXEC by
 * F_GETFD), and O_NOATIME still works: a read through fd1 leaves an old
 * atime alone where a read through a plain fd updates it (when the mount
 * updates atimes at all).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define CHECKED (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_NOATIME | O_DIRECT)
#define DATA_LEN 8192

static int check_fl(int fd, int want, int cloexec, const char *what)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), ret = 0;

	if (fl < 0 || (fl & CHECKED) != want) {
		fail("%s: flags %#x, expected %#x (difference %#x)", what, fl & CHECKED, want,
		     (fl & CHECKED) ^ want);
		ret = 1;
	}
	if (fdfl < 0 || !!(fdfl & FD_CLOEXEC) != cloexec) {
		fail("%s: FD_CLOEXEC is %s, expected %s", what, (fdfl & FD_CLOEXEC) ? "set" : "clear",
		     cloexec ? "set" : "clear");
		ret = 1;
	}
	return ret;
}

static int set_old_atime(int fd)
{
	struct timespec ts[2] = {
		{ .tv_sec = time(NULL) - 3 * 86400, .tv_nsec = 0 },
		{ .tv_sec = 0, .tv_nsec = UTIME_OMIT },
	};

	return futimens(fd, ts);
}

int main(int argc, char **argv)
{
	static unsigned char data[DATA_LEN] __attribute__((aligned(4096)));
	int fd1, fd2, fd3, fd4, fd, ret = 0, want3, fl;
	struct stat before, after;
	uint32_t crc;

	test_init(argc, argv);

	fd1 = open(filename, O_RDWR | O_CREAT | O_EXCL | O_NOATIME | O_SYNC, 0600);
	if (fd1 < 0) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	datagen2(data, sizeof(data), &crc);
	if (write_all(fd1, data, sizeof(data)) != (ssize_t)sizeof(data)) {
		pr_perror("write");
		return 1;
	}
	fd2 = open(filename, O_WRONLY | O_DSYNC | O_APPEND | O_CLOEXEC);
	want3 = O_RDONLY | O_NONBLOCK | O_DIRECT;
	fd3 = open(filename, want3);
	if (fd3 < 0 && errno == EINVAL) {
		test_msg("O_DIRECT is not supported here: fd3 goes without it");
		want3 &= ~O_DIRECT;
		fd3 = open(filename, want3);
	}
	fd4 = open(filename, O_RDONLY);
	if (fd2 < 0 || fd3 < 0 || fd4 < 0) {
		pr_perror("open %s", filename);
		return 1;
	}
	fl = fcntl(fd4, F_GETFL);
	if (fl < 0 || fcntl(fd4, F_SETFL, fl | O_NOATIME)) {
		pr_perror("F_SETFL O_NOATIME");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	ret |= check_fl(fd1, O_RDWR | O_NOATIME | O_SYNC, 0, "fd1 (O_RDWR|O_NOATIME|O_SYNC)");
	ret |= check_fl(fd2, O_WRONLY | O_DSYNC | O_APPEND, 1, "fd2 (O_WRONLY|O_DSYNC|O_APPEND, cloexec)");
	ret |= check_fl(fd3, want3, 0, "fd3 (O_RDONLY|O_NONBLOCK|O_DIRECT)");
	ret |= check_fl(fd4, O_RDONLY | O_NOATIME, 0, "fd4 (O_RDONLY, then O_NOATIME by F_SETFL)");

	/* O_NOATIME at work: a control fd first, to see whether reads update atime here */
	fd = open(filename, O_RDONLY);
	if (fd < 0 || set_old_atime(fd) || fstat(fd, &before) || pread(fd, data, 1, 0) != 1 ||
	    fstat(fd, &after)) {
		fail("atime control read");
		return 1;
	}
	if (after.st_atim.tv_sec == before.st_atim.tv_sec) {
		test_msg("reads do not update atime on this mount: O_NOATIME not checked at work");
	} else {
		if (set_old_atime(fd) || fstat(fd, &before) || pread(fd1, data, 1, 0) != 1 ||
		    pread(fd4, data, 1, 0) != 1 || fstat(fd, &after)) {
			fail("read through the O_NOATIME fds");
			return 1;
		}
		if (after.st_atim.tv_sec != before.st_atim.tv_sec) {
			fail("a read through an O_NOATIME fd updated the atime");
			ret = 1;
		}
	}
	close(fd);

	if (pread(fd1, data, sizeof(data), 0) != (ssize_t)sizeof(data) || datachk2(data, sizeof(data), crc)) {
		fail("the file's contents changed");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
