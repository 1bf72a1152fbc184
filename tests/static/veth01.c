/*
 * veth01: a veth pair between the test's network namespace and a second
 * one a helper process lives in, carrying UDP traffic (creating
 * namespaces and links needs CAP_SYS_ADMIN/CAP_NET_ADMIN: suid; flavors
 * ns/uns only).
 *
 * Helper H unshare()s a new netns; the test creates the pair zv-out (here)
 * <-> zv-in (put into H's netns with IFLA_NET_NS_FD), all with rtnetlink.
 * zv-out: 10.79.0.1/24, MTU 1450, up.  In H's netns H brings up lo and zv-in
 * (10.79.0.2/24, MTU 1450) and binds a UDP socket to 10.79.0.2:7000.
 * The test's UDP socket is bound to 10.79.0.1:7001.  A datagram is
 * exchanged both ways before the checkpoint.  After restore:
 *  - zv-out is a veth of MTU 1450, up, with 10.79.0.1/24, and its peer is
 *    in another netns (IFLA_LINK_NETNSID is set);
 *  - H, asked through a pipe, checks its side the same way (zv-in, veth,
 *    MTU 1450, up, 10.79.0.2/24, its peer in another netns) and that its
 *    netns is still not the test's;
 *  - a datagram sent from 10.79.0.1:7001 to 10.79.0.2:7000 reaches H's
 *    socket (the only way between the two namespaces is the veth pair),
 *    with that source address, and H's echo comes back from 10.79.0.2:7000.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

#define OUT_ADDR "10.79.0.1"
#define IN_ADDR "10.79.0.2"
#define OUT_PORT 7001
#define IN_PORT 7000
#define MTU 1450

static int to_h[2], from_h[2];

static int udp_socket(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int sk = socket(AF_INET, SOCK_DGRAM, 0);

	if (sk < 0)
		return -1;
	inet_pton(AF_INET, addr, &sin.sin_addr);
	if (bind(sk, (struct sockaddr *)&sin, sizeof(sin))) {
		close(sk);
		return -1;
	}
	return sk;
}

/* wait (up to ~5 s) for a datagram; check its source; returns its length */
static ssize_t recv_from(int sk, char *buf, size_t len, const char *addr, int port)
{
	struct pollfd pfd = { .fd = sk, .events = POLLIN };
	struct sockaddr_in src;
	socklen_t slen = sizeof(src);
	char a[16];
	ssize_t n;

	if (poll(&pfd, 1, 5000) != 1) {
		errno = ETIMEDOUT;
		return -1;
	}
	n = recvfrom(sk, buf, len, MSG_DONTWAIT, (struct sockaddr *)&src, &slen);
	if (n < 0)
		return -1;
	inet_ntop(AF_INET, &src.sin_addr, a, sizeof(a));
	if (strcmp(a, addr) || ntohs(src.sin_port) != port) {
		pr_err("datagram from %s:%d, expected %s:%d", a, ntohs(src.sin_port), addr, port);
		errno = EPROTO;
		return -1;
	}
	return n;
}

static int send_to(int sk, const char *msg, const char *addr, int port)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, addr, &dst.sin_addr);
	return sendto(sk, msg, strlen(msg), 0, (struct sockaddr *)&dst, sizeof(dst)) == (ssize_t)strlen(msg) ? 0 : -1;
}

/* a link's state as both sides check it */
static int link_ok(int nl, const char *name, const char *addr, struct rtnl_link *l, int report)
{
	int i;

	for (i = 0; i < 100; i++) {	/* operstate follows the carrier asynchronously */
		if (rtnl_link_get(nl, name, l))
			break;
		if (l->operstate == RTNL_OPER_UP)
			break;
		usleep(20000);
	}
	if (rtnl_link_get(nl, name, l)) {
		if (report)
			fail("link %s is gone", name);
		return 0;
	}
	if (strcmp(l->kind, "veth") || l->mtu != MTU || !(l->flags & IFF_UP) || l->operstate != RTNL_OPER_UP ||
	    l->link_netnsid < 0 || rtnl_addr4_has(nl, l->index, addr, 24) != 1 || rtnl_addr4_count(nl, l->index) != 1) {
		if (report)
			fail("link %s: kind %s mtu %d flags %#x operstate %d peer netnsid %d, has %s/24: %d "
			     "(%d addresses); expected veth, %d, IFF_UP, up, a peer netnsid, 1 (1)",
			     name, l->kind, l->mtu, l->flags, l->operstate, l->link_netnsid, addr,
			     rtnl_addr4_has(nl, l->index, addr, 24), rtnl_addr4_count(nl, l->index), MTU);
		return 0;
	}
	return 1;
}

static int helper(void *arg)
{
	struct stat parent_ns, mine;
	char cmd, buf[64], ppath[64];
	struct rtnl_link l;
	int nl, sk;
	ssize_t n;

	close(to_h[1]);
	close(from_h[0]);
	if (unshare(CLONE_NEWNET)) {
		pr_perror("helper: unshare(CLONE_NEWNET)");
		return 1;
	}
	if (write(from_h[1], "n", 1) != 1)	/* netns ready: move the peer in */
		return 1;
	if (read(to_h[0], &cmd, 1) != 1 || cmd != 'p')	/* the peer is here */
		return 1;
	nl = rtnl_open();
	if (nl < 0 || rtnl_link_set(nl, "lo", 0, 1) || rtnl_link_set(nl, "zv-in", MTU, 1) ||
	    rtnl_addr4_add(nl, "zv-in", IN_ADDR, 24)) {
		pr_perror("helper: setting up zv-in");
		return 1;
	}
	sk = udp_socket(IN_ADDR, IN_PORT);
	if (sk < 0) {
		pr_perror("helper: UDP socket on " IN_ADDR);
		return 1;
	}
	if (write(from_h[1], "r", 1) != 1)
		return 1;

	/* commands: 'c' check the link, 'e' echo one datagram, 'q' quit */
	while (read(to_h[0], &cmd, 1) == 1) {
		char res = 'y';

		switch (cmd) {
		case 'c':
			/*
			 * Compare with the parent's netns as it is now: a restore
			 * makes new namespaces, and a new one may reuse the inode
			 * number of one that existed before the dump.
			 */
			snprintf(ppath, sizeof(ppath), "/proc/%d/ns/net", getppid());
			if (stat("/proc/self/ns/net", &mine) || stat(ppath, &parent_ns)) {
				pr_perror("helper: stat of its own or its parent's netns");
				res = 'n';
			} else if (mine.st_dev == parent_ns.st_dev && mine.st_ino == parent_ns.st_ino) {
				pr_err("helper: it is in the test's netns now");
				res = 'n';
			} else if (!link_ok(nl, "zv-in", IN_ADDR, &l, 0)) {
				link_ok(nl, "zv-in", IN_ADDR, &l, 1);
				res = 'n';
			}
			break;
		case 'e':
			n = recv_from(sk, buf, sizeof(buf), OUT_ADDR, OUT_PORT);
			if (n < 0) {
				pr_perror("helper: no datagram from " OUT_ADDR);
				res = 'n';
				break;
			}
			buf[n] = 0;
			snprintf(buf + n, sizeof(buf) - n, "+echo");
			if (send_to(sk, buf, OUT_ADDR, OUT_PORT)) {
				pr_perror("helper: echo");
				res = 'n';
			}
			break;
		case 'q':
			return 0;
		}
		if (write(from_h[1], &res, 1) != 1)
			return 1;
	}
	return 1;
}

static int ask(char cmd)
{
	char res;

	if (write(to_h[1], &cmd, 1) != 1 || read(from_h[0], &res, 1) != 1)
		return -1;
	return res == 'y' ? 0 : -1;
}

/* send a datagram to H, which echoes it */
static int exchange(int sk, const char *msg)
{
	char buf[64], want[64];
	ssize_t n;

	if (write(to_h[1], "e", 1) != 1 || send_to(sk, msg, IN_ADDR, IN_PORT)) {
		pr_perror("sending \"%s\" to " IN_ADDR, msg);
		return -1;
	}
	n = recv_from(sk, buf, sizeof(buf) - 1, IN_ADDR, IN_PORT);
	if (n < 0) {
		pr_perror("no echo from " IN_ADDR " for \"%s\"", msg);
		return -1;
	}
	buf[n] = 0;
	snprintf(want, sizeof(want), "%s+echo", msg);
	if (strcmp(buf, want)) {
		pr_err("echo \"%s\", expected \"%s\"", buf, want);
		return -1;
	}
	n = read(from_h[0], buf, 1);
	return n == 1 && buf[0] == 'y' ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct rtnl_link l;
	char c, path[64];
	int nl, nsfd, sk, code, ret = 0;
	pid_t h;

	test_init(argc, argv);

	if (pipe(to_h) || pipe(from_h)) {
		pr_perror("pipe");
		return 1;
	}
	h = test_fork_helper(helper, NULL);
	if (h < 0) {
		pr_perror("fork");
		return 1;
	}
	close(to_h[0]);
	close(from_h[1]);
	if (read(from_h[0], &c, 1) != 1) {
		pr_err("the helper died before making its netns");
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", h);
	nsfd = open(path, O_RDONLY);
	nl = rtnl_open();
	if (nsfd < 0 || nl < 0) {
		pr_perror("opening %s / rtnetlink", path);
		return 1;
	}
	if (rtnl_veth_create(nl, "zv-out", "zv-in", nsfd)) {
		if (errno == EOPNOTSUPP)
			skip("no veth support in this kernel (RTM_NEWLINK veth: EOPNOTSUPP)");
		pr_perror("creating the veth pair");
		return 1;
	}
	close(nsfd);
	if (rtnl_link_set(nl, "zv-out", MTU, 1) || rtnl_addr4_add(nl, "zv-out", OUT_ADDR, 24)) {
		pr_perror("setting up zv-out");
		return 1;
	}
	if (write(to_h[1], "p", 1) != 1 || read(from_h[0], &c, 1) != 1) {
		pr_err("the helper died setting up its side");
		return 1;
	}
	sk = udp_socket(OUT_ADDR, OUT_PORT);
	if (sk < 0) {
		pr_perror("UDP socket on " OUT_ADDR);
		return 1;
	}
	if (!link_ok(nl, "zv-out", OUT_ADDR, &l, 0) || ask('c') || exchange(sk, "before")) {
		pr_err("the veth pair does not work even before the checkpoint");
		return 1;
	}
	close(nl);

	test_daemon();
	test_waitsig();

	nl = rtnl_open();
	if (nl < 0) {
		fail("rtnetlink socket");
		return 1;
	}
	if (!link_ok(nl, "zv-out", OUT_ADDR, &l, 1))
		ret = 1;
	if (ask('c')) {
		fail("the helper's side of the pair is not as it was (see its message above)");
		ret = 1;
	}
	if (exchange(sk, "after restore")) {
		fail("no UDP traffic across the veth pair after restore");
		ret = 1;
	}
	if (write(to_h[1], "q", 1) != 1)
		ret = 1;
	code = wait_exit_code(h);
	if (code) {
		fail("the helper exited with %d", code);
		ret = 1;
	}
	close(nl);
	if (!ret)
		pass();
	return ret;
}
