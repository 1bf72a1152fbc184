/*
 * fifo00: named pipes with data in flight.
 *  - fifo A: opened twice, O_RDONLY|O_NONBLOCK and O_WRONLY, its buffer
 *    grown to 256 KiB (F_SETPIPE_SZ) and filled with 100 KiB -- more than a
 *    default pipe holds;
 *  - fifo B: opened once O_RDWR (both ends in one fd), a few bytes queued.
 * After restore: both fds of A still refer to the FIFO at the path (same
 * inode), with their access modes and flags; the pipe size is kept; the
 * data reads back intact and in order, then the FIFOs are empty and still
 * carry data written from now on.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define PIPE_SZ (256 * 1024)
#define DATA_LEN (100 * 1024)
#define MSG_B "fifo B: bytes in flight"

static int same_file(int fd, const char *path, const char *what)
{
	struct stat a, b;

	if (fstat(fd, &a) || stat(path, &b)) {
		fail("%s: stat", what);
		return 1;
	}
	if (!S_ISFIFO(a.st_mode) || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		fail("%s: the fd is no longer the FIFO %s (mode %#o)", what, path, a.st_mode);
		return 1;
	}
	return 0;
}

static int expect_empty(int fd, const char *what)
{
	char c;

	errno = 0;
	if (read(fd, &c, 1) != -1 || errno != EAGAIN) {
		fail("%s has more data than was written", what);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char out[DATA_LEN], in[DATA_LEN];
	char path_b[4096], buf[64];
	uint32_t crc = ~0u;
	int rd, wr, rw, fl, sz, ret = 0;

	test_init(argc, argv);

	snprintf(path_b, sizeof(path_b), "%s.b", filename);
	if (mkfifo(filename, 0600) || mkfifo(path_b, 0600)) {
		pr_perror("mkfifo %s", filename);
		return 1;
	}
	rd = open(filename, O_RDONLY | O_NONBLOCK);
	wr = open(filename, O_WRONLY);
	rw = open(path_b, O_RDWR | O_NONBLOCK);
	if (rd < 0 || wr < 0 || rw < 0) {
		pr_perror("open the FIFOs");
		return 1;
	}
	if (fcntl(wr, F_SETPIPE_SZ, PIPE_SZ) < PIPE_SZ) {
		pr_perror("F_SETPIPE_SZ %d", PIPE_SZ);
		return 1;
	}
	datagen(out, sizeof(out), &crc);
	if (write_all(wr, out, sizeof(out)) != (ssize_t)sizeof(out) ||
	    write(rw, MSG_B, sizeof(MSG_B)) != sizeof(MSG_B)) {
		pr_perror("write to the FIFOs");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	ret |= same_file(rd, filename, "read end of A");
	ret |= same_file(wr, filename, "write end of A");
	ret |= same_file(rw, path_b, "O_RDWR fd of B");
	fl = fcntl(rd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY || !(fl & O_NONBLOCK)) {
		fail("flags of A's read end changed: %#x", fl);
		ret = 1;
	}
	fl = fcntl(wr, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY || (fl & O_NONBLOCK)) {
		fail("flags of A's write end changed: %#x", fl);
		ret = 1;
	}
	fl = fcntl(rw, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR || !(fl & O_NONBLOCK)) {
		fail("flags of B's fd changed: %#x", fl);
		ret = 1;
	}
	sz = fcntl(rd, F_GETPIPE_SZ);
	if (sz != PIPE_SZ) {
		fail("pipe size of A is %d, expected %d", sz, PIPE_SZ);
		ret = 1;
	}

	if (read_all(rd, in, sizeof(in)) != (ssize_t)sizeof(in)) {
		fail("could not read %d bytes back from A", DATA_LEN);
		return 1;
	}
	crc = ~0u;
	if (datachk(in, sizeof(in), &crc)) {
		fail("the data in A is corrupted");
		ret = 1;
	}
	ret |= expect_empty(rd, "FIFO A");
	memset(buf, 0, sizeof(buf));
	if (read(rw, buf, sizeof(buf)) != sizeof(MSG_B) || memcmp(buf, MSG_B, sizeof(MSG_B))) {
		fail("FIFO B returned \"%.*s\", expected \"%s\"", (int)sizeof(buf), buf, MSG_B);
		ret = 1;
	}
	ret |= expect_empty(rw, "FIFO B");

	if (write(wr, "a", 1) != 1 || read(rd, buf, 2) != 1 || buf[0] != 'a' ||
	    write(rw, "b", 1) != 1 || read(rw, buf, 2) != 1 || buf[0] != 'b') {
		fail("the FIFOs do not carry new data");
		ret = 1;
	}
	unlink(path_b);
	if (!ret)
		pass();
	return ret;
}
