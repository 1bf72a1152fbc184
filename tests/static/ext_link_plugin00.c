/*
 * ext_link_plugin00: a network device criu cannot dump, a macvtap over a
 * device that lies outside the test's network namespace (a veth end of the
 * host's: the test's peer, ext_link_plugin00.peer, gives it as a container
 * runtime would). Its criu plugin (plugins/ext_link_plugin00.c,
 * CR_PLUGIN_HOOK__DUMP_EXT_LINK) accepts it at dump as an external link;
 * the action script (ext_link_plugin00.sh) creates it again at
 * setup-namespaces on restore, and criu configures it.
 *
 * After restore the device is there again under its name: a macvtap (the
 * kind rtnetlink reports), linked to a device in another namespace, up,
 * MTU 1400, the same hardware address (a new macvtap gets a random one:
 * criu set it back), with 10.199.0.2 on it, which a socket can bind.
 *
 * ns/uns: in h the test shares the host's network namespace, whose links
 * criu does not dump.
 */
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define ADDR "10.199.0.2"
#define MTU 1400
#define WAIT_TRIES 1000	/* x 10 ms: the peer adds the device beside the test */

struct link {
	char kind[32];
	int link_netnsid;	/* -1: its lower device is in this namespace */
	int mtu, flags;
	unsigned char hw[6];
	char addr[INET_ADDRSTRLEN];
};

static int find_dev(char *name)
{
	struct if_nameindex *ifs, *i;
	int found = 0;

	ifs = if_nameindex();
	for (i = ifs; i && i->if_index; i++)
		if (!strncmp(i->if_name, "zi", 2)) {
			snprintf(name, IF_NAMESIZE, "%s", i->if_name);
			found = 1;
		}
	if (ifs)
		if_freenameindex(ifs);
	return found;
}

/* rtnetlink's IFLA_INFO_KIND and IFLA_LINK_NETNSID of the link. */
static int link_kind(int index, struct link *l)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST },
		  .i = { .ifi_family = AF_UNSPEC, .ifi_index = index } };
	char buf[8192];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct rtattr *a, *info;
	int sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), len, ilen;

	l->kind[0] = '\0';
	l->link_netnsid = -1;
	if (sk < 0 || send(sk, &req, sizeof(req), 0) != sizeof(req) || (len = recv(sk, buf, sizeof(buf), 0)) <= 0 ||
	    !NLMSG_OK(h, (unsigned)len) || h->nlmsg_type != RTM_NEWLINK) {
		if (sk >= 0)
			close(sk);
		return -1;
	}
	close(sk);
	len = IFLA_PAYLOAD(h);
	for (a = IFLA_RTA(NLMSG_DATA(h)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_LINK_NETNSID)
			l->link_netnsid = *(int *)RTA_DATA(a);
		if (a->rta_type != IFLA_LINKINFO)
			continue;
		ilen = RTA_PAYLOAD(a);
		for (info = RTA_DATA(a); RTA_OK(info, ilen); info = RTA_NEXT(info, ilen))
			if (info->rta_type == IFLA_INFO_KIND)
				snprintf(l->kind, sizeof(l->kind), "%.*s", (int)RTA_PAYLOAD(info), (char *)RTA_DATA(info));
	}
	return 0;
}

static int read_link(const char *name, struct link *l)
{
	struct ifreq ifr;
	int sk = socket(AF_INET, SOCK_DGRAM, 0), ret = -1;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (sk < 0 || !if_nametoindex(name) || link_kind(if_nametoindex(name), l))
		goto out;
	if (ioctl(sk, SIOCGIFMTU, &ifr))
		goto out;
	l->mtu = ifr.ifr_mtu;
	if (ioctl(sk, SIOCGIFFLAGS, &ifr))
		goto out;
	l->flags = ifr.ifr_flags;
	if (ioctl(sk, SIOCGIFHWADDR, &ifr))
		goto out;
	memcpy(l->hw, ifr.ifr_hwaddr.sa_data, sizeof(l->hw));
	l->addr[0] = '\0';
	if (ioctl(sk, SIOCGIFADDR, &ifr) == 0)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, l->addr, sizeof(l->addr));
	ret = 0;
out:
	if (sk >= 0)
		close(sk);
	return ret;
}

static int can_bind(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int sk = socket(AF_INET, SOCK_DGRAM, 0), ok;

	inet_pton(AF_INET, ADDR, &a.sin_addr);
	ok = sk >= 0 && bind(sk, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (sk >= 0)
		close(sk);
	return ok;
}

int main(int argc, char **argv)
{
	char name[IF_NAMESIZE];
	struct link before, after;
	int i, ret = 0;

	test_init(argc, argv);
	for (i = 0; i < WAIT_TRIES && !find_dev(name); i++)
		usleep(10000);
	if (i == WAIT_TRIES) {
		pr_err("the peer's device (zi*) never appeared");
		return 1;
	}
	/* the peer configures it right after moving it in */
	for (i = 0; i < WAIT_TRIES; i++) {
		if (read_link(name, &before) == 0 && before.mtu == MTU && (before.flags & IFF_UP) &&
		    !strcmp(before.addr, ADDR))
			break;
		usleep(10000);
	}
	if (i == WAIT_TRIES || strcmp(before.kind, "macvtap") || before.link_netnsid < 0 || !can_bind()) {
		pr_err("%s: not a macvtap over an outside device, up with MTU %d and %s", name, MTU, ADDR);
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (read_link(name, &after)) {
		fail("%s is gone after restore", name);
		return 1;
	}
	if (strcmp(after.kind, "macvtap") || after.link_netnsid < 0) {
		fail("%s is a '%s' now (link netnsid %d), not a macvtap over an outside device", name, after.kind,
		     after.link_netnsid);
		ret = 1;
	}
	if (after.mtu != MTU || !(after.flags & IFF_UP) || memcmp(after.hw, before.hw, sizeof(after.hw))) {
		fail("%s: MTU %d flags %#x after restore (was %d %#x), or another hardware address", name,
		     after.mtu, after.flags, before.mtu, before.flags);
		ret = 1;
	}
	if (strcmp(after.addr, ADDR) || !can_bind()) {
		fail("%s has '%s' after restore, not %s (or it can't be bound)", name, after.addr, ADDR);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
