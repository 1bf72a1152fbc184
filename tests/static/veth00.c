/*
 * veth00: a veth pair in the test's own network namespace (creating links
 * and addresses needs CAP_NET_ADMIN over the netns: suid; flavors ns/uns
 * only -- in h it would be made in the host's netns, which criu does not
 * checkpoint).  Everything is set up with rtnetlink (nsutil.c), not ip(8).
 *
 * zveth0 <-> zveth1 (RTM_NEWLINK, IFLA_INFO_KIND "veth"), MTU 1400 and
 * 1300, both up; 10.77.0.1/24 on zveth0, 10.77.1.1/24 and 10.77.1.2/28 on
 * zveth1; a static route 10.78.0.0/16 via 10.77.0.2 dev zveth0 metric 55.
 * After restore:
 *  - both links exist, of kind veth, each the other's peer (IFLA_LINK),
 *    with the same MTU, MAC address, IFF_UP and operational state UP;
 *  - each has exactly its addresses;
 *  - the route is there with its gateway, device and metric;
 *  - frames cross the pair: an Ethernet frame (ethertype 0x88b5, the
 *    IEEE "local experimental" one) sent by an AF_PACKET socket on zveth0 to
 *    zveth1's MAC arrives on an AF_PACKET socket bound to zveth1 with its
 *    payload, and one back the other way too (the veth is the only path
 *    between the two: a packet socket bound to a device only sees that
 *    device's traffic).
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

#define ETH_P_ZDTM 0x88b5

struct ifc {
	const char *name;
	int mtu;
	struct rtnl_link l;
};

static int check_link(int nl, struct ifc *c)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	struct rtnl_link l;
	int i;

	/* the operational state follows the carrier asynchronously (linkwatch):
	 * give it a moment after restore */
	for (i = 0; i < 100; i++) {
		if (rtnl_link_get(nl, c->name, &l)) {
			fail("link %s is gone", c->name);
			return 1;
		}
		if (l.operstate == RTNL_OPER_UP)
			break;
		nanosleep(&ts, NULL);
	}
	if (strcmp(l.kind, "veth") || l.mtu != c->mtu || memcmp(l.mac, c->l.mac, 6) || !(l.flags & IFF_UP) ||
	    l.operstate != RTNL_OPER_UP) {
		fail("link %s: kind %s mtu %d mac %02x:%02x:%02x:%02x:%02x:%02x flags %#x operstate %d; expected "
		     "veth, %d, %02x:%02x:%02x:%02x:%02x:%02x, IFF_UP, %d (up)",
		     c->name, l.kind, l.mtu, l.mac[0], l.mac[1], l.mac[2], l.mac[3], l.mac[4], l.mac[5], l.flags,
		     l.operstate, c->mtu, c->l.mac[0], c->l.mac[1], c->l.mac[2], c->l.mac[3], c->l.mac[4],
		     c->l.mac[5], RTNL_OPER_UP);
		return 1;
	}
	c->l = l;
	return 0;
}

static int packet_socket(int ifindex)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ZDTM),
		.sll_ifindex = ifindex,
	};
	int sk = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ZDTM));

	if (sk < 0)
		return -1;
	if (bind(sk, (struct sockaddr *)&sll, sizeof(sll))) {
		close(sk);
		return -1;
	}
	return sk;
}

/* a frame from `from` to `to`'s MAC must arrive on a packet socket bound to `to` */
static int frame_crosses(const struct ifc *from, const struct ifc *to)
{
	struct sockaddr_ll dst = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ZDTM),
		.sll_ifindex = from->l.index,
		.sll_halen = 6,
	};
	struct sockaddr_ll src;
	socklen_t slen = sizeof(src);
	char msg[64], buf[128];
	int tx = packet_socket(from->l.index), rx = packet_socket(to->l.index), ret = 1, i;
	struct pollfd pfd;
	ssize_t n;

	if (tx < 0 || rx < 0) {
		fail("packet sockets on %s / %s", from->name, to->name);
		goto out;
	}
	memcpy(dst.sll_addr, to->l.mac, 6);
	snprintf(msg, sizeof(msg), "zdtm frame from %s to %s", from->name, to->name);
	if (sendto(tx, msg, strlen(msg), 0, (struct sockaddr *)&dst, sizeof(dst)) != (ssize_t)strlen(msg)) {
		fail("sending a frame on %s", from->name);
		goto out;
	}
	for (i = 0; i < 10; i++) {
		pfd.fd = rx;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 500) != 1) {
			errno = 0;
			fail("no frame arrived on %s from %s (the veth pair does not carry traffic)", to->name,
			     from->name);
			goto out;
		}
		memset(buf, 0, sizeof(buf));
		n = recvfrom(rx, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&src, &slen);
		if (n < 0) {
			fail("recvfrom on %s", to->name);
			goto out;
		}
		/* frames this socket itself sent (none here) or others: skip */
		if (src.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (n != (ssize_t)strlen(msg) || memcmp(buf, msg, n) || memcmp(src.sll_addr, from->l.mac, 6)) {
			fail("%s received \"%s\" (%zd bytes), expected \"%s\" from %s's MAC", to->name, buf, n, msg,
			     from->name);
			goto out;
		}
		ret = 0;
		break;
	}
	if (ret) {
		errno = 0;
		fail("only outgoing frames were seen on %s", to->name);
	}
out:
	if (tx >= 0)
		close(tx);
	if (rx >= 0)
		close(rx);
	return ret;
}

int main(int argc, char **argv)
{
	struct ifc v0 = { "zveth0", 1400 }, v1 = { "zveth1", 1300 };
	struct rtnl_route r;
	int nl, ret = 0, n;

	test_init(argc, argv);

	nl = rtnl_open();
	if (nl < 0) {
		pr_perror("rtnetlink socket");
		return 1;
	}
	if (rtnl_veth_create(nl, v0.name, v1.name, -1)) {
		if (errno == EOPNOTSUPP)
			skip("no veth support in this kernel (RTM_NEWLINK veth: EOPNOTSUPP)");
		pr_perror("creating the veth pair");
		return 1;
	}
	if (rtnl_link_set(nl, v0.name, v0.mtu, 1) || rtnl_link_set(nl, v1.name, v1.mtu, 1)) {
		pr_perror("setting MTU / up");
		return 1;
	}
	if (rtnl_addr4_add(nl, v0.name, "10.77.0.1", 24) || rtnl_addr4_add(nl, v1.name, "10.77.1.1", 24) ||
	    rtnl_addr4_add(nl, v1.name, "10.77.1.2", 28)) {
		pr_perror("adding addresses");
		return 1;
	}
	if (rtnl_route4_add(nl, "10.78.0.0", 16, "10.77.0.2", v0.name, 55)) {
		pr_perror("adding the route");
		return 1;
	}
	if (rtnl_link_get(nl, v0.name, &v0.l) || rtnl_link_get(nl, v1.name, &v1.l)) {
		pr_perror("reading the links back");
		return 1;
	}
	if (v0.l.link != v1.l.index || v1.l.link != v0.l.index) {
		pr_err("the veth ends are not each other's peer");
		return 1;
	}
	if (frame_crosses(&v0, &v1) || frame_crosses(&v1, &v0)) {
		pr_err("the veth pair does not carry frames even before the checkpoint");
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
	if (check_link(nl, &v0) || check_link(nl, &v1))
		return 1;
	if (v0.l.link != v1.l.index || v1.l.link != v0.l.index) {
		fail("the veth ends are not each other's peer any more (%s: index %d link %d; %s: index %d link %d)",
		     v0.name, v0.l.index, v0.l.link, v1.name, v1.l.index, v1.l.link);
		ret = 1;
	}
	if (rtnl_addr4_has(nl, v0.l.index, "10.77.0.1", 24) != 1 || rtnl_addr4_count(nl, v0.l.index) != 1) {
		fail("%s does not have exactly 10.77.0.1/24 (%d addresses)", v0.name, rtnl_addr4_count(nl, v0.l.index));
		ret = 1;
	}
	if (rtnl_addr4_has(nl, v1.l.index, "10.77.1.1", 24) != 1 || rtnl_addr4_has(nl, v1.l.index, "10.77.1.2", 28) != 1 ||
	    rtnl_addr4_count(nl, v1.l.index) != 2) {
		fail("%s does not have exactly 10.77.1.1/24 and 10.77.1.2/28 (%d addresses)", v1.name,
		     rtnl_addr4_count(nl, v1.l.index));
		ret = 1;
	}
	n = rtnl_route4_get(nl, "10.78.0.0", 16, &r);
	if (n != 1) {
		fail("the route to 10.78.0.0/16 is gone");
		ret = 1;
	} else if (r.oif != v0.l.index || strcmp(r.gw, "10.77.0.2") || r.metric != 55) {
		fail("the route to 10.78.0.0/16 is via %s dev %d metric %d; expected via 10.77.0.2 dev %d metric 55",
		     r.gw, r.oif, r.metric, v0.l.index);
		ret = 1;
	}
	ret |= frame_crosses(&v0, &v1);
	ret |= frame_crosses(&v1, &v0);
	close(nl);

	if (!ret)
		pass();
	return ret;
}
