/*
 * nsutil.c - mount table and rtnetlink helpers (see nsutil.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

/* ------------------------------------------------------------------ */
/* Mount table.                                                        */

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = 0;
}

static void copy_field(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static int parse_line(char *line, struct nsu_mount *m)
{
	char *f[16], *save = NULL, *tok;
	int n = 0, dash = -1;

	memset(m, 0, sizeof(*m));
	for (tok = strtok_r(line, " ", &save); tok && n < 64; tok = strtok_r(NULL, " ", &save)) {
		if (!strcmp(tok, "-") && dash < 0) {
			dash = n;
			continue;
		}
		if (dash < 0 && n >= 6) {
			/* optional fields */
			if (m->optional[0])
				strncat(m->optional, " ", sizeof(m->optional) - strlen(m->optional) - 1);
			strncat(m->optional, tok, sizeof(m->optional) - strlen(m->optional) - 1);
			continue;
		}
		if (n < 16)
			f[n] = tok;
		n++;
		if (dash >= 0 && n >= 9)
			break;
	}
	if (dash < 0 || n < 9)
		return -1;
	m->id = atoi(f[0]);
	m->parent_id = atoi(f[1]);
	if (sscanf(f[2], "%u:%u", &m->major, &m->minor) != 2)
		return -1;
	copy_field(m->root, sizeof(m->root), f[3]);
	copy_field(m->mountpoint, sizeof(m->mountpoint), f[4]);
	copy_field(m->opts, sizeof(m->opts), f[5]);
	copy_field(m->fstype, sizeof(m->fstype), f[6]);
	copy_field(m->source, sizeof(m->source), f[7]);
	copy_field(m->super_opts, sizeof(m->super_opts), f[8]);
	unescape(m->root);
	unescape(m->mountpoint);
	unescape(m->source);
	return 0;
}

int nsu_mounts(struct nsu_mount **out)
{
	char *text = read_file("/proc/self/mountinfo", NULL), *line, *save = NULL;
	struct nsu_mount *arr = NULL, *tmp;
	int n = 0, cap = 0;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			tmp = realloc(arr, cap * sizeof(*arr));
			if (!tmp) {
				free(arr);
				free(text);
				errno = ENOMEM;
				return -1;
			}
			arr = tmp;
		}
		if (parse_line(line, &arr[n]) == 0)
			n++;
	}
	free(text);
	*out = arr;
	return n;
}

int nsu_mount_at(const char *mountpoint, struct nsu_mount *top, struct nsu_mount *bottom)
{
	struct nsu_mount *all;
	int n = nsu_mounts(&all), i, j, count = 0, t = -1, b = -1;

	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		int covered = 0, on_same = 0;

		if (strcmp(all[i].mountpoint, mountpoint))
			continue;
		count++;
		for (j = 0; j < n; j++) {
			if (j == i || strcmp(all[j].mountpoint, mountpoint))
				continue;
			if (all[j].parent_id == all[i].id)
				covered = 1;
			if (all[i].parent_id == all[j].id)
				on_same = 1;
		}
		if (!covered)
			t = i;
		if (!on_same)
			b = i;
	}
	if (top) {
		if (t >= 0)
			*top = all[t];
		else
			memset(top, 0, sizeof(*top));
	}
	if (bottom) {
		if (b >= 0)
			*bottom = all[b];
		else
			memset(bottom, 0, sizeof(*bottom));
	}
	free(all);
	return count;
}

int nsu_has_opt(const char *list, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = list;

	while (p && *p) {
		if (!strncmp(p, opt, n) && (p[n] == ',' || p[n] == 0))
			return 1;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}

int nsu_tag(const char *optional, const char *tag)
{
	size_t n = strlen(tag);
	const char *p = optional;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, tag, n) && p[n] == ':')
			return atoi(p + n + 1);
		p = strchr(p, ' ');
	}
	return 0;
}

int nsu_abspath(const char *rel, char *buf, size_t len)
{
	char cwd[PATH_MAX];

	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	if ((size_t)snprintf(buf, len, "%s/%s", cwd, rel) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int nsu_fd_mnt_id(int fd)
{
	char path[64], *s, *p;
	int id = -1;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	s = read_file(path, NULL);
	if (!s)
		return -1;
	p = strstr(s, "mnt_id:");
	if (p)
		id = atoi(p + 7);
	free(s);
	return id;
}

int nsu_tmpfs_at(const char *rel, const char *name)
{
	char path[PATH_MAX];

	if (nsu_abspath(rel, path, sizeof(path)))
		return -1;
	return mount(name, path, "tmpfs", 0, "size=1m");
}

int nsu_mount_at_rel(const char *rel, struct nsu_mount *top, struct nsu_mount *bottom)
{
	char path[PATH_MAX];

	if (nsu_abspath(rel, path, sizeof(path)))
		return -1;
	return nsu_mount_at(path, top, bottom);
}

/* ------------------------------------------------------------------ */
/* Small files.                                                        */

int nsu_put_file(const char *path, const char *s, int excl)
{
	int fd = open(path, O_WRONLY | O_CREAT | (excl ? O_EXCL : O_TRUNC), 0644);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

int nsu_file_is(const char *path, const char *s)
{
	char buf[128] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n == (ssize_t)strlen(s) && !memcmp(buf, s, n);
}

/* ------------------------------------------------------------------ */
/* sysctls.                                                            */

int nsu_sysctl_read(const char *path, char *buf, size_t len)
{
	char full[256], *s, *p;
	size_t o = 0;
	int sp = 0;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	s = read_file(full, NULL);
	if (!s)
		return -1;
	for (p = s; *p && o + 1 < len; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			sp = o > 0;
			continue;
		}
		if (sp)
			buf[o++] = ' ';
		sp = 0;
		buf[o++] = *p;
	}
	buf[o] = 0;
	free(s);
	return 0;
}

int nsu_sysctl_write(const char *path, const char *val)
{
	char full[256];
	int fd;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	fd = open(full, O_WRONLY);
	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

int nsu_sysctl_expect(const char *path, const char *want)
{
	char got[128];

	if (nsu_sysctl_read(path, got, sizeof(got))) {
		fail("reading /proc/sys/%s", path);
		return 1;
	}
	if (strcmp(got, want)) {
		fail("/proc/sys/%s is \"%s\", expected \"%s\"", path, got, want);
		return 1;
	}
	return 0;
}

int nsu_sysctl_change(const char *path, const char *val, int optional)
{
	char cur[128];

	if (nsu_sysctl_read(path, cur, sizeof(cur))) {
		if (errno == ENOENT && optional) {
			test_msg("no /proc/sys/%s here: not tested", path);
			return 0;
		}
		pr_perror("reading /proc/sys/%s", path);
		return -1;
	}
	if (!strcmp(cur, val)) {
		pr_err("/proc/sys/%s is already %s: the test would prove nothing", path, cur);
		return -1;
	}
	if (nsu_sysctl_write(path, val)) {
		pr_perror("writing %s to /proc/sys/%s", val, path);
		return -1;
	}
	if (nsu_sysctl_expect(path, val))
		return -1;
	return 1;
}

/* ------------------------------------------------------------------ */
/* rtnetlink.                                                          */

#define NL_BUF 16384

#define NLREQ_SIZE 4096
/* a request: a zeroed, aligned buffer that starts with its nlmsghdr */
#define NLREQ(var)                                                              \
	char var##_buf[NLREQ_SIZE] __attribute__((aligned(8))) = { 0 };          \
	struct nlmsghdr *var = (struct nlmsghdr *)var##_buf

static struct rtattr *nla_add(struct nlmsghdr *h, int type, const void *data, int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static struct rtattr *nla_nest(struct nlmsghdr *h, int type)
{
	return nla_add(h, type, NULL, 0);
}

static void nla_nest_end(struct nlmsghdr *h, struct rtattr *nest)
{
	nest->rta_len = (char *)h + h->nlmsg_len - (char *)nest;
}

int rtnl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned int nl_seq = 1;

/* send a request that wants an ACK; 0 or -1 with errno from the kernel */
static int nl_talk(int nl, struct nlmsghdr *h)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[NL_BUF];
	ssize_t n;

	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++nl_seq;
	if (sendto(nl, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	for (;;) {
		struct nlmsghdr *r;

		n = recv(nl, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n); r = NLMSG_NEXT(r, n)) {
			if (r->nlmsg_seq != h->nlmsg_seq)
				continue;
			if (r->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(r);

				if (e->error) {
					errno = -e->error;
					return -1;
				}
				return 0;
			}
		}
	}
}

/*
 * Dump request: calls cb(msg, arg) for each answer; cb returns 0 to go on,
 * anything else stops (the rest of the dump is still read).
 */
static int nl_dump(int nl, struct nlmsghdr *h, int (*cb)(struct nlmsghdr *, void *), void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char *buf = malloc(NL_BUF * 4);
	int stop = 0;
	ssize_t n;

	if (!buf)
		return -1;
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
	h->nlmsg_seq = ++nl_seq;
	if (sendto(nl, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		free(buf);
		return -1;
	}
	for (;;) {
		struct nlmsghdr *r;

		n = recv(nl, buf, NL_BUF * 4, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		for (r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n); r = NLMSG_NEXT(r, n)) {
			if (r->nlmsg_seq != h->nlmsg_seq)
				continue;
			if (r->nlmsg_type == NLMSG_DONE) {
				free(buf);
				return 0;
			}
			if (r->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(r);

				free(buf);
				errno = e->error ? -e->error : EIO;
				return -1;
			}
			if (!stop && cb(r, arg))
				stop = 1;
		}
	}
}

static int ifindex_of(int nl, const char *name)
{
	struct rtnl_link l;

	if (rtnl_link_get(nl, name, &l))
		return -1;
	return l.index;
}

int rtnl_veth_create(int nl, const char *name, const char *peer, int peer_netns_fd)
{
	NLREQ(h);
	struct rtattr *linfo, *data, *peer_nest;
	struct ifinfomsg *ifi, *pifi;

	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	h->nlmsg_type = RTM_NEWLINK;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifi = NLMSG_DATA(h);
	ifi->ifi_family = AF_UNSPEC;
	nla_add(h, IFLA_IFNAME, name, strlen(name) + 1);
	linfo = nla_nest(h, IFLA_LINKINFO);
	nla_add(h, IFLA_INFO_KIND, "veth", 4);
	data = nla_nest(h, IFLA_INFO_DATA);
	peer_nest = nla_nest(h, VETH_INFO_PEER);
	/* the peer's attributes follow its own struct ifinfomsg */
	pifi = (struct ifinfomsg *)((char *)h + h->nlmsg_len);
	memset(pifi, 0, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	h->nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg));
	nla_add(h, IFLA_IFNAME, peer, strlen(peer) + 1);
	if (peer_netns_fd >= 0) {
		uint32_t fd = (uint32_t)peer_netns_fd;

		nla_add(h, IFLA_NET_NS_FD, &fd, sizeof(fd));
	}
	nla_nest_end(h, peer_nest);
	nla_nest_end(h, data);
	nla_nest_end(h, linfo);
	return nl_talk(nl, h);
}

/* Start an RTM_NEWLINK/RTM_DELLINK request about the link called name. */
static struct ifinfomsg *link_request(int nl, struct nlmsghdr *h, int type, const char *name)
{
	struct ifinfomsg *ifi;
	int idx = ifindex_of(nl, name);

	if (idx < 0)
		return NULL;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	h->nlmsg_type = type;
	ifi = NLMSG_DATA(h);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = idx;
	return ifi;
}

int rtnl_link_set(int nl, const char *name, int mtu, int up)
{
	NLREQ(h);
	struct ifinfomsg *ifi = link_request(nl, h, RTM_NEWLINK, name);

	if (!ifi)
		return -1;
	if (up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = up ? IFF_UP : 0;
	}
	if (mtu > 0) {
		uint32_t m = (uint32_t)mtu;

		nla_add(h, IFLA_MTU, &m, sizeof(m));
	}
	return nl_talk(nl, h);
}

int rtnl_link_del(int nl, const char *name)
{
	NLREQ(h);

	if (!link_request(nl, h, RTM_DELLINK, name))
		return -1;
	return nl_talk(nl, h);
}

struct link_lookup {
	const char *name;
	struct rtnl_link *l;
	int found;
};

static int link_cb(struct nlmsghdr *h, void *arg)
{
	struct link_lookup *ll = arg;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	struct rtnl_link l;
	struct rtattr *a;

	if (h->nlmsg_type != RTM_NEWLINK || len < 0)
		return 0;
	memset(&l, 0, sizeof(l));
	l.index = ifi->ifi_index;
	l.flags = ifi->ifi_flags;
	l.link_netnsid = -1;
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case IFLA_IFNAME:
			snprintf(l.name, sizeof(l.name), "%s", (char *)RTA_DATA(a));
			break;
		case IFLA_MTU:
			l.mtu = *(uint32_t *)RTA_DATA(a);
			break;
		case IFLA_OPERSTATE:
			l.operstate = *(uint8_t *)RTA_DATA(a);
			break;
		case IFLA_LINK:
			l.link = *(uint32_t *)RTA_DATA(a);
			break;
		case IFLA_LINK_NETNSID:
			l.link_netnsid = *(int32_t *)RTA_DATA(a);
			break;
		case IFLA_ADDRESS:
			if (RTA_PAYLOAD(a) >= 6)
				memcpy(l.mac, RTA_DATA(a), 6);
			break;
		case IFLA_STATS64:
			if (RTA_PAYLOAD(a) >= sizeof(struct rtnl_link_stats64)) {
				struct rtnl_link_stats64 st;

				memcpy(&st, RTA_DATA(a), sizeof(st));
				l.rx_packets = st.rx_packets;
				l.tx_packets = st.tx_packets;
			}
			break;
		case IFLA_LINKINFO: {
			int ilen = RTA_PAYLOAD(a);
			struct rtattr *i;

			for (i = RTA_DATA(a); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen))
				if (i->rta_type == IFLA_INFO_KIND)
					snprintf(l.kind, sizeof(l.kind), "%.*s", (int)RTA_PAYLOAD(i),
						 (char *)RTA_DATA(i));
			break;
		}
		}
	}
	if (strcmp(l.name, ll->name))
		return 0;
	*ll->l = l;
	ll->found = 1;
	return 1;
}

int rtnl_link_get(int nl, const char *name, struct rtnl_link *l)
{
	NLREQ(h);
	struct link_lookup ll = { name, l, 0 };
	struct ifinfomsg *ifi;

	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	h->nlmsg_type = RTM_GETLINK;
	ifi = NLMSG_DATA(h);
	ifi->ifi_family = AF_UNSPEC;
	if (nl_dump(nl, h, link_cb, &ll))
		return -1;
	if (!ll.found) {
		errno = ENODEV;
		return -1;
	}
	return 0;
}

int rtnl_addr4_add(int nl, const char *name, const char *addr, int prefix)
{
	NLREQ(h);
	struct ifaddrmsg *ifa;
	struct in_addr a;
	int idx = ifindex_of(nl, name);

	if (idx < 0)
		return -1;
	if (inet_pton(AF_INET, addr, &a) != 1) {
		errno = EINVAL;
		return -1;
	}
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	h->nlmsg_type = RTM_NEWADDR;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = NLMSG_DATA(h);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_index = idx;
	nla_add(h, IFA_LOCAL, &a, sizeof(a));
	nla_add(h, IFA_ADDRESS, &a, sizeof(a));
	return nl_talk(nl, h);
}

struct addr_lookup {
	int ifindex;
	struct in_addr a;
	int prefix;		/* -1: count them */
	int result;
};

static int addr_cb(struct nlmsghdr *h, void *arg)
{
	struct addr_lookup *al = arg;
	struct ifaddrmsg *ifa = NLMSG_DATA(h);
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa));
	struct rtattr *a;

	if (h->nlmsg_type != RTM_NEWADDR || len < 0 || ifa->ifa_family != AF_INET ||
	    (int)ifa->ifa_index != al->ifindex)
		return 0;
	if (al->prefix < 0) {
		al->result++;
		return 0;
	}
	for (a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFA_LOCAL && !memcmp(RTA_DATA(a), &al->a, 4) &&
		    ifa->ifa_prefixlen == al->prefix) {
			al->result = 1;
			return 1;
		}
	return 0;
}

static int addr_walk(int nl, struct addr_lookup *al)
{
	NLREQ(h);
	struct ifaddrmsg *ifa;

	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	h->nlmsg_type = RTM_GETADDR;
	ifa = NLMSG_DATA(h);
	ifa->ifa_family = AF_INET;
	if (nl_dump(nl, h, addr_cb, al))
		return -1;
	return al->result;
}

int rtnl_addr4_has(int nl, int ifindex, const char *addr, int prefix)
{
	struct addr_lookup al = { .ifindex = ifindex, .prefix = prefix };

	if (inet_pton(AF_INET, addr, &al.a) != 1) {
		errno = EINVAL;
		return -1;
	}
	return addr_walk(nl, &al);
}

int rtnl_addr4_count(int nl, int ifindex)
{
	struct addr_lookup al = { .ifindex = ifindex, .prefix = -1 };

	return addr_walk(nl, &al);
}

int rtnl_route4_add(int nl, const char *dst, int prefix, const char *gw, const char *dev, int metric)
{
	NLREQ(h);
	struct rtmsg *rtm;
	struct in_addr d, g;
	uint32_t oif;
	int idx = ifindex_of(nl, dev);

	if (idx < 0)
		return -1;
	oif = (uint32_t)idx;
	if (inet_pton(AF_INET, dst, &d) != 1 || (gw && *gw && inet_pton(AF_INET, gw, &g) != 1)) {
		errno = EINVAL;
		return -1;
	}
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	h->nlmsg_type = RTM_NEWROUTE;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	rtm = NLMSG_DATA(h);
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = (gw && *gw) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	nla_add(h, RTA_DST, &d, sizeof(d));
	if (gw && *gw)
		nla_add(h, RTA_GATEWAY, &g, sizeof(g));
	nla_add(h, RTA_OIF, &oif, sizeof(oif));
	if (metric > 0) {
		uint32_t m = (uint32_t)metric;

		nla_add(h, RTA_PRIORITY, &m, sizeof(m));
	}
	return nl_talk(nl, h);
}

struct route_lookup {
	struct in_addr dst;
	int prefix;
	struct rtnl_route *r;
	int found;
};

static int route_cb(struct nlmsghdr *h, void *arg)
{
	struct route_lookup *rl = arg;
	struct rtmsg *rtm = NLMSG_DATA(h);
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*rtm));
	struct rtnl_route r = { .metric = -1 };
	struct rtattr *a;
	int dst_ok = 0, table = rtm->rtm_table;

	if (h->nlmsg_type != RTM_NEWROUTE || len < 0 || rtm->rtm_family != AF_INET ||
	    rtm->rtm_dst_len != rl->prefix)
		return 0;
	r.protocol = rtm->rtm_protocol;
	r.scope = rtm->rtm_scope;
	r.type = rtm->rtm_type;
	for (a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case RTA_DST:
			dst_ok = !memcmp(RTA_DATA(a), &rl->dst, 4);
			break;
		case RTA_OIF:
			r.oif = *(uint32_t *)RTA_DATA(a);
			break;
		case RTA_GATEWAY:
			inet_ntop(AF_INET, RTA_DATA(a), r.gw, sizeof(r.gw));
			break;
		case RTA_PRIORITY:
			r.metric = *(uint32_t *)RTA_DATA(a);
			break;
		case RTA_TABLE:
			table = *(uint32_t *)RTA_DATA(a);
			break;
		}
	}
	if (!dst_ok || table != RT_TABLE_MAIN)
		return 0;
	*rl->r = r;
	rl->found = 1;
	return 1;
}

int rtnl_route4_get(int nl, const char *dst, int prefix, struct rtnl_route *r)
{
	struct route_lookup rl = { .prefix = prefix, .r = r };
	NLREQ(h);
	struct rtmsg *rtm;

	if (inet_pton(AF_INET, dst, &rl.dst) != 1) {
		errno = EINVAL;
		return -1;
	}
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	h->nlmsg_type = RTM_GETROUTE;
	rtm = NLMSG_DATA(h);
	rtm->rtm_family = AF_INET;
	if (nl_dump(nl, h, route_cb, &rl))
		return -1;
	return rl.found;
}
