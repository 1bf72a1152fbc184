/*
 * pipe_direct_crfail: a "packet mode" pipe (pipe2(O_DIRECT)) with three
 * packets of different sizes in flight.  Each write() is one packet and
 * each read() returns at most one, so the packet boundaries are state that
 * a plain pipe cannot carry; criu must refuse the dump.
 * After SIGTERM the test checks the refused dump left the pipe alone: the
 * write end keeps O_DIRECT, and three reads return the three packets intact, one
 * each, then the pipe is empty.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

static const size_t sizes[] = { 100, 1, 2000 };

int main(int argc, char **argv)
{
	unsigned char out[3][4096], in[8192];
	uint32_t crc[3];
	int p[2], ret = 0, fl;
	unsigned i;
	ssize_t n;

	test_init(argc, argv);

	if (pipe2(p, O_DIRECT | O_NONBLOCK)) {
		if (errno == EINVAL)
			skip("no packet-mode pipes (O_DIRECT) in this kernel");
		pr_perror("pipe2(O_DIRECT)");
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		datagen2(out[i], sizes[i], &crc[i]);
		if (write(p[1], out[i], sizes[i]) != (ssize_t)sizes[i]) {
			pr_perror("write packet %u", i);
			return 1;
		}
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	/* the kernel keeps O_DIRECT on the write end only */
	fl = fcntl(p[1], F_GETFL);
	if (fl < 0 || !(fl & O_DIRECT)) {
		fail("the write end lost O_DIRECT (%#x)", fl);
		ret = 1;
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		n = read(p[0], in, sizeof(in));
		if (n != (ssize_t)sizes[i] || datachk2(in, sizes[i], crc[i])) {
			fail("packet %u: read returned %zd bytes, expected the %zu-byte packet", i, n, sizes[i]);
			ret = 1;
		}
	}
	errno = 0;
	if (read(p[0], in, sizeof(in)) != -1 || errno != EAGAIN) {
		fail("the pipe holds more than the three packets");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
