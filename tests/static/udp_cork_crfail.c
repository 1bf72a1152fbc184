/*
 * udp_cork_crfail: a UDP socket (loopback) corked with UDP_CORK and two
 * send()s pending in it, which the kernel will send as one datagram when
 * the cork is pulled.  The pending data sits in the socket's send queue,
 * where criu cannot get it: it must refuse the dump.
 * After SIGTERM the test checks that the refused dump left the socket as it
 * was: still corked, nothing has reached the receiver; after UDP_CORK=0 the
 * receiver gets exactly one datagram, the two pieces joined.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PART1 "corked data, part one; "
#define PART2 "part two"

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(addr);
	int rx, tx, on = 1, off = 0, val, ret = 0;
	char buf[256];
	ssize_t n;

	test_init(argc, argv);

	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(rx, (struct sockaddr *)&addr, &alen) ||
	    connect(tx, (struct sockaddr *)&addr, sizeof(addr))) {
		pr_perror("UDP sockets on loopback");
		return 1;
	}
	if (setsockopt(tx, IPPROTO_UDP, UDP_CORK, &on, sizeof(on)) ||
	    send(tx, PART1, strlen(PART1), 0) != (ssize_t)strlen(PART1) ||
	    send(tx, PART2, strlen(PART2), 0) != (ssize_t)strlen(PART2)) {
		pr_perror("UDP_CORK + send");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	alen = sizeof(val);
	if (getsockopt(tx, IPPROTO_UDP, UDP_CORK, &val, &alen) || !val) {
		fail("the socket is no longer corked");
		ret = 1;
	}
	n = recv(rx, buf, sizeof(buf), MSG_DONTWAIT);
	if (n >= 0) {
		fail("the receiver got %zd bytes while the sender was corked", n);
		ret = 1;
	}
	errno = 0;
	if (setsockopt(tx, IPPROTO_UDP, UDP_CORK, &off, sizeof(off))) {
		fail("UDP_CORK=0");
		return 1;
	}
	memset(buf, 0, sizeof(buf));
	n = recv(rx, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n != (ssize_t)strlen(PART1 PART2) || strcmp(buf, PART1 PART2)) {
		fail("after uncorking the receiver got %zd bytes \"%s\", expected \"%s\"", n, n > 0 ? buf : "",
		     PART1 PART2);
		ret = 1;
	}
	errno = 0;
	if (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) != -1 || errno != EAGAIN) {
		fail("the receiver got more than one datagram");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
