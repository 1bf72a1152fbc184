/*
 * packet00: AF_PACKET sockets bound to the loopback device.
 *
 *  - R: SOCK_RAW, a classic BPF filter attached (SO_ATTACH_FILTER: IPv4
 *       UDP to one port only), then bound to lo for ETH_P_IP, with
 *       PACKET_VERSION = TPACKET_V2, PACKET_AUXDATA, PACKET_ORIGDEV and
 *       PACKET_RESERVE set;
 *  - M: SOCK_DGRAM, bound to lo for ETH_P_ALL, with a PACKET_MR_MULTICAST
 *       membership for a link-layer multicast address on lo (and a
 *       drop-all filter, so that it queues nothing).
 *
 * After restore: both are bound to lo with the same protocol and type, R
 * keeps its options and its filter (same instructions), M's membership is
 * still registered on lo (/proc/net/dev_mcast), and R still captures: a
 * UDP datagram sent over 127.0.0.1 to a port the filter rejects is not
 * seen, one to the filtered port arrives with its payload and a
 * PACKET_AUXDATA control message.
 *
 * suid: packet sockets need CAP_NET_RAW.
 */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define RESERVE 64
static const unsigned char mc_addr[ETH_ALEN] = { 0x01, 0x00, 0x5e, 0x7a, 0x64, 0x42 };

static int setint(int sk, int opt, int v)
{
	return setsockopt(sk, SOL_PACKET, opt, &v, sizeof(v));
}

static int check_bound(int sk, int ifindex, int proto, const char *what)
{
	struct sockaddr_ll ll;
	socklen_t len = sizeof(ll);

	memset(&ll, 0, sizeof(ll));
	if (getsockname(sk, (struct sockaddr *)&ll, &len) || ll.sll_family != AF_PACKET) {
		fail("%s: getsockname", what);
		return 1;
	}
	if (ll.sll_ifindex != ifindex || ll.sll_protocol != htons(proto)) {
		fail("%s: bound to ifindex %d proto %#x, expected lo (%d) proto %#x", what, ll.sll_ifindex,
		     ntohs(ll.sll_protocol), ifindex, proto);
		return 1;
	}
	return 0;
}

/* is mc_addr registered on lo? */
static int mc_registered(void)
{
	char line[256], want[2 * ETH_ALEN + 1], name[IFNAMSIZ + 1], addr[64];
	int idx, users, global, found = 0;
	FILE *f;

	snprintf(want, sizeof(want), "%02x%02x%02x%02x%02x%02x", mc_addr[0], mc_addr[1], mc_addr[2],
		 mc_addr[3], mc_addr[4], mc_addr[5]);
	f = fopen("/proc/net/dev_mcast", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %16s %d %d %63s", &idx, name, &users, &global, addr) == 5 &&
		    !strcmp(name, "lo") && !strcmp(addr, want))
			found = 1;
	fclose(f);
	return found;
}

/* the packet socket sees a datagram to `port` with `payload` (timeout ms) */
static int captured(int sk, const char *payload, int timeout, int *auxdata)
{
	static unsigned char buf[65536];
	char cbuf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	struct pollfd pfd = { .fd = sk, .events = POLLIN };
	size_t plen = strlen(payload);

	while (poll(&pfd, 1, timeout) == 1) {
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *ch;
		ssize_t r = recvmsg(sk, &mh, MSG_DONTWAIT);

		if (r < (ssize_t)plen)
			continue;
		if (memcmp(buf + r - plen, payload, plen))
			continue;
		*auxdata = 0;
		for (ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
			if (ch->cmsg_level == SOL_PACKET && ch->cmsg_type == PACKET_AUXDATA)
				*auxdata = 1;
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in uaddr, other;
	struct sockaddr_ll ll;
	struct packet_mreq mr;
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),			/* ethertype */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 6),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),			/* IP protocol */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 4),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),		/* IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),			/* UDP dst port */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0 /* set below */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(code), .filter = code };
	struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog drop_prog = { .len = 1, .filter = drop };
	struct sock_filter got_code[32];
	socklen_t len;
	int r, m, u, lo, aux = 0, ret = 0;

	test_init(argc, argv);

	lo = (int)if_nametoindex("lo");
	if (!lo) {
		pr_perror("if_nametoindex(lo)");
		return 1;
	}

	/* the UDP socket whose port the filter lets through */
	u = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&uaddr, 0, sizeof(uaddr));
	uaddr.sin_family = AF_INET;
	uaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = sizeof(uaddr);
	if (u < 0 || bind(u, (struct sockaddr *)&uaddr, sizeof(uaddr)) ||
	    getsockname(u, (struct sockaddr *)&uaddr, &len)) {
		pr_perror("UDP socket");
		return 1;
	}
	code[6].k = ntohs(uaddr.sin_port);

	/* protocol 0: captures nothing until bound with a protocol */
	r = socket(AF_PACKET, SOCK_RAW, 0);
	if (r < 0) {
		if (errno == EPERM)
			skip("no CAP_NET_RAW for packet sockets");
		pr_perror("socket(AF_PACKET, SOCK_RAW)");
		return 1;
	}
	if (setsockopt(r, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setint(r, PACKET_VERSION, TPACKET_V2) || setint(r, PACKET_AUXDATA, 1) ||
	    setint(r, PACKET_ORIGDEV, 1) || setint(r, PACKET_RESERVE, RESERVE)) {
		pr_perror("packet socket options");
		return 1;
	}
	memset(&ll, 0, sizeof(ll));
	ll.sll_family = AF_PACKET;
	ll.sll_protocol = htons(ETH_P_IP);
	ll.sll_ifindex = lo;
	if (bind(r, (struct sockaddr *)&ll, sizeof(ll))) {
		pr_perror("bind to lo");
		return 1;
	}

	/*
	 * M: it would capture every frame on lo, so a drop-all filter goes on
	 * before it is bound (protocol 0: nothing is captured until then).
	 */
	m = socket(AF_PACKET, SOCK_DGRAM, 0);
	if (m < 0) {
		pr_perror("socket(AF_PACKET, SOCK_DGRAM)");
		return 1;
	}
	if (setsockopt(m, SOL_SOCKET, SO_ATTACH_FILTER, &drop_prog, sizeof(drop_prog))) {
		pr_perror("filter on M");
		return 1;
	}
	ll.sll_protocol = htons(ETH_P_ALL);
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = lo;
	mr.mr_type = PACKET_MR_MULTICAST;
	mr.mr_alen = ETH_ALEN;
	memcpy(mr.mr_address, mc_addr, ETH_ALEN);
	if (bind(m, (struct sockaddr *)&ll, sizeof(ll)) ||
	    setsockopt(m, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		pr_perror("bind/membership on M");
		return 1;
	}
	if (mc_registered() != 1) {
		pr_err("the multicast membership does not show in /proc/net/dev_mcast");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_bound(r, lo, ETH_P_IP, "raw socket");
	ret |= check_bound(m, lo, ETH_P_ALL, "dgram socket");
	if (sock_getint(r, SOL_SOCKET, SO_TYPE) != SOCK_RAW || sock_getint(m, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM) {
		fail("socket types changed");
		ret = 1;
	}
	if (sock_getint(r, SOL_PACKET, PACKET_VERSION) != TPACKET_V2 || sock_getint(r, SOL_PACKET, PACKET_AUXDATA) != 1 ||
	    sock_getint(r, SOL_PACKET, PACKET_ORIGDEV) != 1 || sock_getint(r, SOL_PACKET, PACKET_RESERVE) != RESERVE) {
		fail("raw socket options: version %d auxdata %d origdev %d reserve %d", sock_getint(r, SOL_PACKET, PACKET_VERSION),
		     sock_getint(r, SOL_PACKET, PACKET_AUXDATA), sock_getint(r, SOL_PACKET, PACKET_ORIGDEV),
		     sock_getint(r, SOL_PACKET, PACKET_RESERVE));
		ret = 1;
	}
	len = ARRAY_SIZE(got_code);
	if (getsockopt(r, SOL_SOCKET, SO_GET_FILTER, got_code, &len) || len != ARRAY_SIZE(code) ||
	    memcmp(got_code, code, sizeof(code))) {
		fail("raw socket: the BPF filter changed (%u instructions, expected %zu)", len, ARRAY_SIZE(code));
		ret = 1;
	}
	if (mc_registered() != 1) {
		fail("dgram socket: the multicast membership on lo is gone");
		ret = 1;
	}

	/* capture: a datagram to another port is filtered out, ours arrives */
	other = uaddr;
	other.sin_port = htons(ntohs(uaddr.sin_port) ^ 0x4000);
	if (sendto(u, "zdtm-packet00-other", 19, 0, (struct sockaddr *)&other, sizeof(other)) != 19 ||
	    sendto(u, "zdtm-packet00-magic", 19, 0, (struct sockaddr *)&uaddr, sizeof(uaddr)) != 19) {
		pr_perror("sendto");
		ret = 1;
	} else {
		if (!captured(r, "zdtm-packet00-magic", 2000, &aux)) {
			fail("raw socket: does not capture UDP on lo any more");
			ret = 1;
		} else if (!aux) {
			fail("raw socket: captured packet came without PACKET_AUXDATA");
			ret = 1;
		}
	}
	/* the rejected one must not have been captured either before or after */
	sendto(u, "zdtm-packet00-other", 19, 0, (struct sockaddr *)&other, sizeof(other));
	if (captured(r, "zdtm-packet00-other", 200, &aux)) {
		fail("raw socket: captured a packet its filter rejects: filter lost");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
