/*
 * udp00: UDP sockets on 127.0.0.1: bound, connected, autobound, with
 * datagrams queued at checkpoint time.
 *
 *  - A: bound to 127.0.0.1:<ephemeral>, not connected, SO_BROADCAST and
 *       SO_REUSEPORT set, a non-default SO_RCVBUF;
 *  - B: bound to its own port and connect()ed to A;
 *  - C: never bound, connect()ed to A (the kernel autobinds it);
 *  - datagrams queued: B -> A (three) and A -> B (two), none read.
 *
 * After restore: every socket has the same local address, B and C the
 * same peer, A keeps its options; B -> A, C -> A and A -> B still work and
 * A sees the right source addresses; B, being connected, still ignores a
 * datagram from a fourth socket.
 *
 * Queued datagrams: criu drops UDP receive queues on purpose (its dump
 * log says "Read queue is dropped for socket ..."), so the queues may be
 * empty after restore.  What is checked is that whatever is there is
 * intact, in order and complete-or-absent per datagram (no truncated or
 * foreign data); the output says how many were kept (all of them with
 * `zdtm run --norst`, none after a real restore with criu 4.2.1).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define RCVBUF 131072

static int udp_socket(struct sockaddr_in *bind_to)
{
	socklen_t len = sizeof(*bind_to);
	int sk = socket(AF_INET, SOCK_DGRAM, 0);

	if (sk < 0)
		return -1;
	if (bind_to && (bind(sk, (struct sockaddr *)bind_to, sizeof(*bind_to)) ||
			getsockname(sk, (struct sockaddr *)bind_to, &len)))
		return -1;
	return sk;
}

static int same(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == b->sin_family && a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

static int check_addr(int sk, int peer, const struct sockaddr_in *want, const char *what)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int r;

	memset(&a, 0, sizeof(a));
	r = peer ? getpeername(sk, (struct sockaddr *)&a, &len) : getsockname(sk, (struct sockaddr *)&a, &len);
	if (r || !same(&a, want)) {
		fail("%s: %s address is %s:%d, expected port %d", what, peer ? "peer" : "local",
		     inet_ntoa(a.sin_addr), ntohs(a.sin_port), ntohs(want->sin_port));
		return 1;
	}
	return 0;
}

/* receive one datagram (wait up to 2 s); returns its length, -1 if none */
static ssize_t recv_one(int sk, char *buf, size_t len, struct sockaddr_in *from, int timeout)
{
	struct pollfd pfd = { .fd = sk, .events = POLLIN };
	socklen_t flen = sizeof(*from);

	if (poll(&pfd, 1, timeout) != 1)
		return -1;
	return recvfrom(sk, buf, len, MSG_DONTWAIT, (struct sockaddr *)from, &flen);
}

/* what is still queued must be a prefix-free, in-order subset: msgs[k..n-1] or nothing */
static int check_queue(int sk, const char *const *msgs, int n, const struct sockaddr_in *src,
		       const char *what)
{
	struct sockaddr_in from;
	char buf[256];
	int i = 0, got = 0;
	ssize_t r;

	while ((r = recv_one(sk, buf, sizeof(buf), &from, 0)) >= 0) {
		while (i < n && ((size_t)r != strlen(msgs[i]) || memcmp(buf, msgs[i], r)))
			i++;
		if (i == n) {
			fail("%s: unexpected queued datagram (%zd bytes '%.*s')", what, r, (int)r, buf);
			return 1;
		}
		if (!same(&from, src)) {
			fail("%s: queued datagram '%s' has a wrong source port %d", what, msgs[i],
			     ntohs(from.sin_port));
			return 1;
		}
		i++;
		got++;
	}
	test_msg("%s: %d of %d queued datagrams still there after the checkpoint\n", what, got, n);
	return 0;
}

static int roundtrip(int from_sk, const struct sockaddr_in *to, int to_sk, const struct sockaddr_in *src,
		     const char *msg, const char *what)
{
	struct sockaddr_in from;
	char buf[256];
	ssize_t r;

	if (to)
		r = sendto(from_sk, msg, strlen(msg), 0, (const struct sockaddr *)to, sizeof(*to));
	else
		r = send(from_sk, msg, strlen(msg), 0);
	if (r != (ssize_t)strlen(msg)) {
		fail("%s: send", what);
		return 1;
	}
	r = recv_one(to_sk, buf, sizeof(buf), &from, 2000);
	if (r != (ssize_t)strlen(msg) || memcmp(buf, msg, r)) {
		fail("%s: datagram not received (%zd)", what, r);
		return 1;
	}
	if (!same(&from, src)) {
		fail("%s: source is port %d, expected %d", what, ntohs(from.sin_port), ntohs(src->sin_port));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const to_a[] = { "b2a-1", "b2a-two", "b2a-the-third" };
	static const char *const to_b[] = { "a2b-1", "a2b-second" };
	struct sockaddr_in aa, ab, ac, lo;
	socklen_t len;
	int a, b, c, d, one = 1, rcvbuf = RCVBUF, rcvbuf_eff, i, ret = 0;
	char buf[64];

	test_init(argc, argv);

	memset(&lo, 0, sizeof(lo));
	lo.sin_family = AF_INET;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	aa = lo;
	ab = lo;

	a = socket(AF_INET, SOCK_DGRAM, 0);
	if (a < 0 || setsockopt(a, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) ||
	    setsockopt(a, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    setsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))) {
		pr_perror("socket A / setsockopt");
		return 1;
	}
	len = sizeof(aa);
	if (bind(a, (struct sockaddr *)&aa, sizeof(aa)) || getsockname(a, (struct sockaddr *)&aa, &len)) {
		pr_perror("bind A");
		return 1;
	}
	rcvbuf_eff = sock_getint(a, SOL_SOCKET, SO_RCVBUF);
	b = udp_socket(&ab);
	c = udp_socket(NULL);
	if (b < 0 || c < 0 || connect(b, (struct sockaddr *)&aa, sizeof(aa)) ||
	    connect(c, (struct sockaddr *)&aa, sizeof(aa))) {
		pr_perror("B/C");
		return 1;
	}
	len = sizeof(ac);
	if (getsockname(c, (struct sockaddr *)&ac, &len) || ac.sin_port == 0) {
		pr_perror("C was not autobound");
		return 1;
	}

	for (i = 0; i < 3; i++)
		if (send(b, to_a[i], strlen(to_a[i]), 0) < 0) {
			pr_perror("send B->A");
			return 1;
		}
	for (i = 0; i < 2; i++)
		if (sendto(a, to_b[i], strlen(to_b[i]), 0, (struct sockaddr *)&ab, sizeof(ab)) < 0) {
			pr_perror("send A->B");
			return 1;
		}

	test_daemon();
	test_waitsig();

	ret |= check_addr(a, 0, &aa, "A");
	ret |= check_addr(b, 0, &ab, "B");
	ret |= check_addr(b, 1, &aa, "B");
	ret |= check_addr(c, 0, &ac, "C (autobound)");
	ret |= check_addr(c, 1, &aa, "C");
	if (sock_getint(a, SOL_SOCKET, SO_BROADCAST) != 1 || sock_getint(a, SOL_SOCKET, SO_REUSEPORT) != 1) {
		fail("A: SO_BROADCAST/SO_REUSEPORT lost");
		ret = 1;
	}
	if (sock_getint(a, SOL_SOCKET, SO_RCVBUF) != rcvbuf_eff) {
		fail("A: SO_RCVBUF is %d, expected %d", sock_getint(a, SOL_SOCKET, SO_RCVBUF), rcvbuf_eff);
		ret = 1;
	}

	ret |= check_queue(a, to_a, 3, &ab, "A's queue");
	ret |= check_queue(b, to_b, 2, &aa, "B's queue");

	ret |= roundtrip(b, NULL, a, &ab, "B to A after restore", "B->A");
	ret |= roundtrip(c, NULL, a, &ac, "C to A after restore", "C->A");
	ret |= roundtrip(a, &ab, b, &aa, "A to B after restore", "A->B");

	/* B is connected to A: a datagram from elsewhere must not reach it */
	d = udp_socket(NULL);
	if (d < 0 || sendto(d, "intruder", 8, 0, (struct sockaddr *)&ab, sizeof(ab)) != 8) {
		pr_perror("socket D");
		ret = 1;
	} else if (recv_one(b, buf, sizeof(buf), &lo, 200) >= 0) {
		fail("B received a datagram from a socket it is not connected to: not connected any more");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
