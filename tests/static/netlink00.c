/*
 * netlink00: NETLINK_ROUTE sockets.
 *
 *  - A: bound with nl_pid 0 (the kernel picks the port id) and subscribed
 *       to RTMGRP_LINK | RTMGRP_IPV4_IFADDR, with a non-default SO_RCVBUF;
 *  - B: bound to an explicit port id of our choosing, no groups.
 *
 * After restore: getsockname() gives the same port ids and group masks,
 * SO_RCVBUF is kept, and both sockets still talk to the kernel: an
 * RTM_GETLINK dump sent from each returns a complete, well-formed answer
 * (NLMSG_DONE at the end, sequence number echoed, addressed to the
 * socket's port id) that lists the loopback interface.
 */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define GROUPS (RTMGRP_LINK | RTMGRP_IPV4_IFADDR)
#define RCVBUF 98304

static int nl_name(int sk, struct sockaddr_nl *nl)
{
	socklen_t len = sizeof(*nl);

	memset(nl, 0, sizeof(*nl));
	return getsockname(sk, (struct sockaddr *)nl, &len);
}

/* RTM_GETLINK dump; 0 if lo (index 1 or named "lo") is listed */
static int getlink(int sk, uint32_t portid, uint32_t seq, const char *what)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifm;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	static char buf[65536];
	struct pollfd pfd = { .fd = sk, .events = POLLIN };
	int done = 0, found_lo = 0, nmsg = 0;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = seq;
	req.ifm.ifi_family = AF_UNSPEC;
	if (sendto(sk, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) != sizeof(req)) {
		fail("%s: can't send RTM_GETLINK", what);
		return 1;
	}
	while (!done) {
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		struct nlmsghdr *nh;
		ssize_t r;

		if (poll(&pfd, 1, 5000) != 1) {
			fail("%s: RTM_GETLINK: no answer from the kernel", what);
			return 1;
		}
		r = recvfrom(sk, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (r < 0) {
			fail("%s: RTM_GETLINK: recv", what);
			return 1;
		}
		if (from.nl_pid != 0) {
			fail("%s: answer not from the kernel (port %u)", what, from.nl_pid);
			return 1;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)r); nh = NLMSG_NEXT(nh, r)) {
			if (nh->nlmsg_seq != seq || nh->nlmsg_pid != portid) {
				/* a multicast notification (seq 0) may sneak in on A */
				if (nh->nlmsg_seq == 0)
					continue;
				fail("%s: answer with seq %u pid %u, expected seq %u pid %u", what,
				     nh->nlmsg_seq, nh->nlmsg_pid, seq, portid);
				return 1;
			}
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				fail("%s: RTM_GETLINK answered with an error", what);
				return 1;
			}
			if (nh->nlmsg_type == RTM_NEWLINK) {
				struct ifinfomsg *ifm = NLMSG_DATA(nh);
				struct rtattr *rta = IFLA_RTA(ifm);
				int alen = IFLA_PAYLOAD(nh);

				nmsg++;
				for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen))
					if (rta->rta_type == IFLA_IFNAME && !strcmp(RTA_DATA(rta), "lo") &&
					    (ifm->ifi_flags & IFF_LOOPBACK))
						found_lo = 1;
			}
		}
	}
	if (!found_lo) {
		fail("%s: RTM_GETLINK dump (%d links) does not list lo", what, nmsg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_nl na, nb, got;
	int a, b, rcvbuf = RCVBUF, rcvbuf_eff, ret = 0;

	test_init(argc, argv);

	a = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	b = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (a < 0 || b < 0) {
		pr_perror("socket(AF_NETLINK)");
		return 1;
	}
	if (setsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))) {
		pr_perror("SO_RCVBUF");
		return 1;
	}
	rcvbuf_eff = sock_getint(a, SOL_SOCKET, SO_RCVBUF);

	memset(&na, 0, sizeof(na));
	na.nl_family = AF_NETLINK;
	na.nl_groups = GROUPS;
	if (bind(a, (struct sockaddr *)&na, sizeof(na)) || nl_name(a, &na)) {
		pr_perror("bind A");
		return 1;
	}
	memset(&nb, 0, sizeof(nb));
	nb.nl_family = AF_NETLINK;
	nb.nl_pid = 0x5a000000u | (uint32_t)getpid();
	if (bind(b, (struct sockaddr *)&nb, sizeof(nb)) || nl_name(b, &nb)) {
		pr_perror("bind B to port id %#x", 0x5a000000u | (uint32_t)getpid());
		return 1;
	}
	test_msg("A: port id %u groups %#x; B: port id %u\n", na.nl_pid, na.nl_groups, nb.nl_pid);
	/* both work before */
	if (getlink(a, na.nl_pid, 1, "A before") || getlink(b, nb.nl_pid, 1, "B before"))
		return 1;

	test_daemon();
	test_waitsig();

	if (nl_name(a, &got) || got.nl_pid != na.nl_pid || got.nl_groups != na.nl_groups) {
		fail("A: port id %u groups %#x, expected %u %#x", got.nl_pid, got.nl_groups, na.nl_pid,
		     na.nl_groups);
		ret = 1;
	}
	if (nl_name(b, &got) || got.nl_pid != nb.nl_pid || got.nl_groups != 0) {
		fail("B: port id %u groups %#x, expected %u 0", got.nl_pid, got.nl_groups, nb.nl_pid);
		ret = 1;
	}
	if (sock_getint(a, SOL_SOCKET, SO_RCVBUF) != rcvbuf_eff) {
		fail("A: SO_RCVBUF %d, expected %d", sock_getint(a, SOL_SOCKET, SO_RCVBUF), rcvbuf_eff);
		ret = 1;
	}
	ret |= getlink(a, na.nl_pid, 2, "A after restore");
	ret |= getlink(b, nb.nl_pid, 2, "B after restore");

	if (!ret)
		pass();
	return ret;
}
