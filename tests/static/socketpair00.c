/*
 * socketpair00: AF_UNIX socketpairs with queued data.
 *  - SOCK_STREAM: data queued in both directions (different sizes);
 *  - SOCK_DGRAM: several datagrams queued one way, boundaries matter;
 *  - SOCK_SEQPACKET: records queued, plus one end shut down for writing.
 * After restore everything is read back (non-blocking) and checked, queues
 * must then be empty, and the pairs must still be connected.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define A2B (40000)
#define B2A (12345)
#define NDGRAM 5

static int expect_empty(int fd, const char *what)
{
	char c;

	errno = 0;
	if (recv(fd, &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN) {
		fail("%s: queue not empty after reading everything", what);
		return 1;
	}
	return 0;
}

static int read_stream(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char a2b[A2B], b2a[B2A], buf[65536];
	int st[2], dg[2], sp[2], i, ret = 0;
	size_t dlen[NDGRAM] = { 1, 100, 4096, 7, 60000 };
	static unsigned char dgrams[NDGRAM][60000];
	uint32_t crc;
	ssize_t r;

	test_init(argc, argv);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp)) {
		pr_perror("socketpair");
		return 1;
	}
	crc = ~0u;
	datagen(a2b, A2B, &crc);
	crc = ~0u;
	datagen(b2a, B2A, &crc);
	if (write_all(st[0], a2b, A2B) != A2B || write_all(st[1], b2a, B2A) != B2A) {
		pr_perror("write stream");
		return 1;
	}
	for (i = 0; i < NDGRAM; i++) {
		crc = ~0u;
		if (dlen[i] >= 4)
			datagen(dgrams[i], dlen[i], &crc);
		else
			dgrams[i][0] = 0x5a;
		if (send(dg[0], dgrams[i], dlen[i], 0) != (ssize_t)dlen[i]) {
			pr_perror("send datagram %d", i);
			return 1;
		}
	}
	if (send(sp[1], "first record", 12, 0) != 12 || send(sp[1], "second", 6, 0) != 6 ||
	    shutdown(sp[1], SHUT_WR)) {
		pr_perror("seqpacket");
		return 1;
	}

	test_daemon();
	test_waitsig();

	/* stream, both ways */
	if (read_stream(st[1], buf, A2B)) {
		fail("stream: can't read %d bytes a->b", A2B);
		ret = 1;
	} else {
		crc = ~0u;
		if (datachk(buf, A2B, &crc)) {
			fail("stream: a->b data corrupted");
			ret = 1;
		}
	}
	if (read_stream(st[0], buf, B2A)) {
		fail("stream: can't read %d bytes b->a", B2A);
		ret = 1;
	} else {
		crc = ~0u;
		if (datachk(buf, B2A, &crc)) {
			fail("stream: b->a data corrupted");
			ret = 1;
		}
	}
	ret |= expect_empty(st[0], "stream a") | expect_empty(st[1], "stream b");

	/* datagrams, boundaries */
	for (i = 0; i < NDGRAM; i++) {
		r = recv(dg[1], buf, sizeof(buf), MSG_DONTWAIT);
		if (r != (ssize_t)dlen[i]) {
			fail("datagram %d: %zd bytes, expected %zu", i, r, dlen[i]);
			ret = 1;
			break;
		}
		crc = ~0u;
		if (dlen[i] >= 4 ? datachk(buf, dlen[i], &crc) : buf[0] != 0x5a) {
			fail("datagram %d corrupted", i);
			ret = 1;
		}
	}
	ret |= expect_empty(dg[1], "dgram");

	/* seqpacket records, then EOF (peer shut down) */
	r = recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 12 || memcmp(buf, "first record", 12)) {
		fail("seqpacket: first record wrong (%zd)", r);
		ret = 1;
	}
	r = recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 6 || memcmp(buf, "second", 6)) {
		fail("seqpacket: second record wrong (%zd)", r);
		ret = 1;
	}
	r = recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 0) {
		fail("seqpacket: no EOF after the records (%zd): shutdown state lost", r);
		ret = 1;
	}
	errno = 0;
	if (send(sp[1], "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) {
		fail("seqpacket: write after SHUT_WR did not fail with EPIPE");
		ret = 1;
	}

	/* still connected */
	if (send(st[0], "ping", 4, 0) != 4 || recv(st[1], buf, 4, MSG_DONTWAIT) != 4 ||
	    memcmp(buf, "ping", 4) || send(dg[1], "pong", 4, 0) != 4 ||
	    recv(dg[0], buf, 4, MSG_DONTWAIT) != 4 || memcmp(buf, "pong", 4)) {
		fail("the pairs are no longer connected");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
