/*
 * tcp_established00: an established TCP connection over 127.0.0.1 with
 * both ends in the dumped tree and data in flight both ways
 * (criu --tcp-established, TCP repair mode).
 *
 * The client end has TCP_NODELAY and SO_KEEPALIVE set.  Each end writes a
 * known byte stream to the other (non-blocking, until the socket buffers
 * are full, so the data sits both in the receiver's receive queue and in
 * the sender's send queue) and nobody reads before the checkpoint.
 *
 * After restore: both ends still have the same local and peer addresses,
 * the options are kept, every byte written before the checkpoint arrives
 * once, in order and intact, nothing more is queued, and the connection
 * still carries new data both ways.
 *
 * suid: TCP repair (TCP_REPAIR) needs CAP_NET_ADMIN, which criu dumping as
 * the workload's owner does not have here.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MAX_FILL (8 << 20)

static unsigned char stream_byte(unsigned seed, size_t off)
{
	uint32_t x = (uint32_t)off * 2654435761u + seed;

	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return (unsigned char)x;
}

/* write the stream from offset 0 until EAGAIN; returns the byte count */
static ssize_t fill(int sk, unsigned seed)
{
	unsigned char buf[4096];
	size_t off = 0, i;
	ssize_t r;

	while (off < MAX_FILL) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = stream_byte(seed, off + i);
		r = send(sk, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN)
				break;
			return -1;
		}
		off += (size_t)r;
	}
	return (ssize_t)off;
}

/* read exactly len bytes of the stream (waiting up to 5s for each chunk) */
static int drain(int sk, unsigned seed, size_t len, const char *what)
{
	unsigned char buf[4096];
	struct pollfd pfd = { .fd = sk, .events = POLLIN };
	size_t off = 0, i;
	ssize_t r;

	while (off < len) {
		if (poll(&pfd, 1, 5000) != 1) {
			fail("%s: only %zu of %zu bytes arrived", what, off, len);
			return 1;
		}
		r = recv(sk, buf, len - off < sizeof(buf) ? len - off : sizeof(buf), MSG_DONTWAIT);
		if (r <= 0) {
			fail("%s: recv returned %zd after %zu of %zu bytes", what, r, off, len);
			return 1;
		}
		for (i = 0; i < (size_t)r; i++)
			if (buf[i] != stream_byte(seed, off + i)) {
				fail("%s: byte %zu differs", what, off + i);
				return 1;
			}
		off += (size_t)r;
	}
	/* nothing more than what was written */
	errno = 0;
	r = recv(sk, buf, 1, MSG_DONTWAIT);
	if (r != -1 || errno != EAGAIN) {
		fail("%s: extra data after the %zu bytes (recv %zd)", what, len, r);
		return 1;
	}
	return 0;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_family == b->sin_family && a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

static int check_names(int sk, const struct sockaddr_in *self, const struct sockaddr_in *peer,
		       const char *what)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(sk, (struct sockaddr *)&a, &len) || !same_addr(&a, self)) {
		fail("%s: local address changed (port %d, expected %d)", what, ntohs(a.sin_port),
		     ntohs(self->sin_port));
		return 1;
	}
	len = sizeof(a);
	if (getpeername(sk, (struct sockaddr *)&a, &len) || !same_addr(&a, peer)) {
		fail("%s: peer address changed (port %d, expected %d)", what, ntohs(a.sin_port),
		     ntohs(peer->sin_port));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr, caddr, saddr;
	socklen_t len;
	int lsk, c, s, one = 1, ret = 0;
	ssize_t c2s, s2c;
	char buf[16];

	test_init(argc, argv);

	lsk = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || c < 0) {
		pr_perror("socket");
		return 1;
	}
	if (tcp_listen_loopback(lsk, 1, &addr)) {
		pr_perror("bind/listen");
		return 1;
	}
	if (setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one))) {
		pr_perror("setsockopt");
		return 1;
	}
	if (connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
		pr_perror("connect");
		return 1;
	}
	s = accept(lsk, NULL, NULL);
	if (s < 0) {
		pr_perror("accept");
		return 1;
	}
	close(lsk);
	len = sizeof(caddr);
	getsockname(c, (struct sockaddr *)&caddr, &len);
	len = sizeof(saddr);
	getsockname(s, (struct sockaddr *)&saddr, &len);

	c2s = fill(c, 0x1234);
	s2c = fill(s, 0xbeef);
	if (c2s <= 0 || s2c <= 0) {
		pr_perror("filling the connection");
		return 1;
	}
	test_msg("in flight: %zd bytes client->server, %zd bytes server->client\n", c2s, s2c);

	test_daemon();
	test_waitsig();

	ret |= check_names(c, &caddr, &saddr, "client");
	ret |= check_names(s, &saddr, &caddr, "server");
	if (sock_getint(c, IPPROTO_TCP, TCP_NODELAY) != 1 || sock_getint(c, SOL_SOCKET, SO_KEEPALIVE) != 1) {
		fail("client: TCP_NODELAY/SO_KEEPALIVE lost");
		ret = 1;
	}
	ret |= drain(s, 0x1234, (size_t)c2s, "client->server");
	ret |= drain(c, 0xbeef, (size_t)s2c, "server->client");

	if (send(c, "ping", 4, 0) != 4 || recv(s, buf, sizeof(buf), 0) != 4 || memcmp(buf, "ping", 4) ||
	    send(s, "pong", 4, 0) != 4 || recv(c, buf, sizeof(buf), 0) != 4 || memcmp(buf, "pong", 4)) {
		fail("the connection does not carry new data both ways");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
