/*
 * netns_sysctl00: per-network-namespace sysctls and a custom route in the
 * test's own netns (writing net sysctls and adding routes need
 * CAP_NET_ADMIN over the netns: suid; flavors ns/uns only -- in h they
 * would be the host's).
 *
 * Set before the checkpoint, each to a value other than its default (the
 * test checks that first):
 *   net/ipv4/conf/all/forwarding          1   (net/ipv4/ip_forward follows it)
 *   net/ipv4/conf/all/arp_announce        2
 *   net/ipv4/conf/default/rp_filter       2
 *   net/ipv4/conf/default/log_martians    1
 *   net/ipv4/conf/lo/accept_local         1
 *   net/ipv4/conf/lo/route_localnet       1
 *   net/ipv4/conf/lo/arp_ignore           2
 *   net/ipv6/conf/all/forwarding          1   (if the kernel has IPv6)
 *   net/ipv6/conf/default/max_addresses   7   (likewise)
 *   net/unix/max_dgram_qlen               97
 *   net/ipv4/ping_group_range             100 2000
 * and, with rtnetlink, a route 198.51.100.0/24 dev lo metric 33 (scope
 * link) in the main table.  After restore every value must read back the
 * same (and net/ipv4/ip_forward 1), and the route must be there with its
 * device and metric.  A device created after restore gets the restored
 * "default" values (rp_filter 2, log_martians 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

struct knob {
	const char *path;	/* under /proc/sys/ */
	const char *value;	/* as written; compared with whitespace normalised */
	int optional;		/* skip if the file does not exist (no IPv6) */
	int present;
};

static struct knob knobs[] = {
	{ "net/ipv4/conf/all/forwarding", "1" },
	{ "net/ipv4/conf/all/arp_announce", "2" },
	{ "net/ipv4/conf/default/rp_filter", "2" },
	{ "net/ipv4/conf/default/log_martians", "1" },
	{ "net/ipv4/conf/lo/accept_local", "1" },
	{ "net/ipv4/conf/lo/route_localnet", "1" },
	{ "net/ipv4/conf/lo/arp_ignore", "2" },
	{ "net/ipv6/conf/all/forwarding", "1", 1 },
	{ "net/ipv6/conf/default/max_addresses", "7", 1 },
	{ "net/unix/max_dgram_qlen", "97" },
	{ "net/ipv4/ping_group_range", "100 2000" },
};

int main(int argc, char **argv)
{
	struct rtnl_route r;
	struct rtnl_link lo;
	unsigned int i;
	int nl, n, ret = 0;

	test_init(argc, argv);

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		n = nsu_sysctl_change(knobs[i].path, knobs[i].value, knobs[i].optional);
		if (n < 0)
			return 1;
		knobs[i].present = n;
	}
	nl = rtnl_open();
	if (nl < 0 || rtnl_route4_add(nl, "198.51.100.0", 24, NULL, "lo", 33)) {
		pr_perror("adding the route 198.51.100.0/24 dev lo");
		return 1;
	}
	close(nl);

	test_daemon();
	test_waitsig();

	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		if (knobs[i].present)
			ret |= nsu_sysctl_expect(knobs[i].path, knobs[i].value);
	ret |= nsu_sysctl_expect("net/ipv4/ip_forward", "1");

	nl = rtnl_open();
	if (nl < 0 || rtnl_link_get(nl, "lo", &lo)) {
		fail("rtnetlink: lo");
		return 1;
	}
	n = rtnl_route4_get(nl, "198.51.100.0", 24, &r);
	if (n != 1) {
		fail("the route to 198.51.100.0/24 is gone");
		ret = 1;
	} else if (r.oif != lo.index || r.gw[0] || r.metric != 33 || r.scope != 253 /* RT_SCOPE_LINK */) {
		fail("the route to 198.51.100.0/24: dev %d gw \"%s\" metric %d scope %d; expected dev lo (%d), no "
		     "gateway, metric 33, scope link",
		     r.oif, r.gw, r.metric, r.scope, lo.index);
		ret = 1;
	}

	/* a new device inherits the "default" values */
	if (rtnl_veth_create(nl, "zns0", "zns1", -1)) {
		if (errno != EOPNOTSUPP) {
			fail("creating a veth pair after restore");
			ret = 1;
		}
	} else {
		ret |= nsu_sysctl_expect("net/ipv4/conf/zns0/rp_filter", "2");
		ret |= nsu_sysctl_expect("net/ipv4/conf/zns0/log_martians", "1");
		rtnl_link_del(nl, "zns0");
	}
	close(nl);

	if (!ret)
		pass();
	return ret;
}
