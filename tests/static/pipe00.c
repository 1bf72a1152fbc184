/*
 * pipe00: a pipe with data in flight.  The data is written before the
 * checkpoint and read back (and CRC-checked) after SIGTERM; the pipe must
 * then be empty, and both ends must keep their flags.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DATA_LEN (48 * 1024) /* below the default pipe capacity (64K) */

int main(int argc, char **argv)
{
	static unsigned char out[DATA_LEN], in[DATA_LEN + 1];
	uint32_t crc = ~0u;
	int p[2], fl;
	ssize_t r;

	test_init(argc, argv);

	if (pipe(p)) {
		pr_perror("pipe");
		return 1;
	}
	datagen(out, sizeof(out), &crc);
	if (write_all(p[1], out, sizeof(out)) != (ssize_t)sizeof(out)) {
		pr_perror("write to the pipe");
		return 1;
	}
	if (set_nonblock(p[0], 1)) {
		pr_perror("set O_NONBLOCK");
		return 1;
	}

	test_daemon();
	test_waitsig();

	fl = fcntl(p[0], F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY || !(fl & O_NONBLOCK)) {
		fail("read end flags changed: %#x", fl);
		return 1;
	}
	fl = fcntl(p[1], F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY || (fl & O_NONBLOCK)) {
		fail("write end flags changed: %#x", fl);
		return 1;
	}

	r = read_all(p[0], in, sizeof(out));
	if (r != (ssize_t)sizeof(out)) {
		fail("read %zd bytes from the pipe, expected %zu", r, sizeof(out));
		return 1;
	}
	crc = ~0u;
	if (datachk(in, sizeof(out), &crc)) {
		fail("data in the pipe is corrupted");
		return 1;
	}
	errno = 0;
	r = read(p[0], in, 1);
	if (r != -1 || errno != EAGAIN) {
		fail("the pipe has more data than was written (read returned %zd)", r);
		return 1;
	}
	/* and the pipe still works in both directions */
	if (write(p[1], "x", 1) != 1 || read(p[0], in, 2) != 1 || in[0] != 'x') {
		fail("the pipe does not carry data any more");
		return 1;
	}
	pass();
	return 0;
}
