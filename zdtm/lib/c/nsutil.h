/*
 * nsutil.h - helpers for workloads about namespaces: the mount table
 * (/proc/self/mountinfo) and rtnetlink (links, veth pairs, IPv4 addresses
 * and routes) without the ip(8) tool.
 *
 * Every function returns 0 on success and -1 with errno set on failure,
 * unless said otherwise.
 */
#ifndef ZDTM_NSUTIL_H
#define ZDTM_NSUTIL_H

#include <limits.h>
#include <net/if.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Mount table.                                                        */

struct nsu_mount {
	int id, parent_id;
	unsigned int major, minor;
	char root[PATH_MAX];		/* root of the mount inside its filesystem */
	char mountpoint[PATH_MAX];	/* unescaped */
	char opts[256];			/* per-mount options: "rw,nosuid,..." */
	char optional[256];		/* "shared:N master:M ..." or "" */
	char fstype[64];
	char source[256];
	char super_opts[512];
};

/*
 * Read /proc/self/mountinfo into a malloc'ed array (*out, free() it);
 * returns the number of mounts, -1 on error.
 */
int nsu_mounts(struct nsu_mount **out);

/*
 * The mounts at `mountpoint` (an absolute path): returns how many there
 * are (0: not a mount point; > 1: overmounted there), -1 on error.  *top
 * (optional) gets the topmost one -- the one no other mount at the same
 * place sits on -- and *bottom (optional) the lowest one (both zeroed
 * when there is no mount there).
 */
int nsu_mount_at(const char *mountpoint, struct nsu_mount *top, struct nsu_mount *bottom);

/* 1 if the comma-separated `list` has the option `opt` exactly, else 0 */
int nsu_has_opt(const char *list, const char *opt);

/* the N of "tag:N" in an optional-fields string ("shared", "master",
 * "propagate_from"), 0 if absent */
int nsu_tag(const char *optional, const char *tag);

/* getcwd() + "/" + rel into buf (len bytes) */
int nsu_abspath(const char *rel, char *buf, size_t len);

/* fd's mount id (mnt_id: of /proc/self/fdinfo/FD), -1 on error */
int nsu_fd_mnt_id(int fd);

/* mount a 1 MiB tmpfs with source `name` at the work-dir-relative `rel` */
int nsu_tmpfs_at(const char *rel, const char *name);

/* nsu_mount_at() for a work-dir-relative path */
int nsu_mount_at_rel(const char *rel, struct nsu_mount *top, struct nsu_mount *bottom);

/* ------------------------------------------------------------------ */
/* Small files.                                                        */

/*
 * Create the file `path` holding the string `s` (0644): excl 1 makes it
 * fail if the file exists (O_EXCL), 0 truncates an existing one.
 */
int nsu_put_file(const char *path, const char *s, int excl);

/* 1 if the file `path` holds exactly the string `s` (under 128 bytes), else 0 */
int nsu_file_is(const char *path, const char *s);

/* ------------------------------------------------------------------ */
/* sysctls: `path` is relative to /proc/sys/ ("net/ipv4/ip_forward").  */

/* read it into buf with whitespace runs turned into one space, trimmed */
int nsu_sysctl_read(const char *path, char *buf, size_t len);

int nsu_sysctl_write(const char *path, const char *val);

/*
 * 0 if it reads `want` (whitespace normalised); else 1 after a fail()
 * naming /proc/sys/<path> and both values.
 */
int nsu_sysctl_expect(const char *path, const char *want);

/*
 * Set it to `val`, making sure that changes it: read it (an error if it
 * already is `val`: a check after restore would prove nothing), write it,
 * nsu_sysctl_expect() it.  Returns 1 when set; 0 when `optional` and
 * there is no such file (said with test_msg); -1 on error (reported).
 */
int nsu_sysctl_change(const char *path, const char *val, int optional);

/* ------------------------------------------------------------------ */
/* rtnetlink.                                                          */

/* a NETLINK_ROUTE socket (close() it), -1 on error */
int rtnl_open(void);

/*
 * Create a veth pair `name` <-> `peer` (RTM_NEWLINK, IFLA_INFO_KIND
 * "veth").  peer_netns_fd >= 0 puts the peer into that network namespace
 * (an fd of /proc/PID/ns/net), -1 keeps it here.
 */
int rtnl_veth_create(int nl, const char *name, const char *peer, int peer_netns_fd);

/* set the MTU (mtu > 0) and/or the IFF_UP flag (up: 1 up, 0 down, -1 keep) */
int rtnl_link_set(int nl, const char *name, int mtu, int up);

/* delete a link */
int rtnl_link_del(int nl, const char *name);

/* IF_OPER_UP of <linux/if.h> (RFC 2863), which clashes with <net/if.h> */
#define RTNL_OPER_UP 6

struct rtnl_link {
	int index;
	char name[IF_NAMESIZE];
	unsigned int flags;		/* IFF_* */
	int mtu;
	int operstate;			/* IF_OPER_* */
	int link;			/* IFLA_LINK: the peer's ifindex (veth), 0 if none */
	int link_netnsid;		/* IFLA_LINK_NETNSID, -1 if absent */
	char kind[32];			/* IFLA_INFO_KIND, "" if none */
	unsigned char mac[6];
	uint64_t rx_packets, tx_packets;
};

/* 0 and *l filled; -1 with errno ENODEV when there is no such link */
int rtnl_link_get(int nl, const char *name, struct rtnl_link *l);

/* add IPv4 address `addr`/prefix to the link `name` */
int rtnl_addr4_add(int nl, const char *name, const char *addr, int prefix);

/* 1 if the link with index `ifindex` has `addr`/prefix, 0 if not, -1 on error */
int rtnl_addr4_has(int nl, int ifindex, const char *addr, int prefix);

/* how many IPv4 addresses the link has, -1 on error */
int rtnl_addr4_count(int nl, int ifindex);

/*
 * Add a unicast route in the main table: dst/prefix via gw ("" or NULL:
 * directly connected) out of link `dev`, with `metric` (0: none).
 */
int rtnl_route4_add(int nl, const char *dst, int prefix, const char *gw, const char *dev, int metric);

struct rtnl_route {
	int oif;
	char gw[16];		/* dotted quad, "" if none */
	int metric;		/* -1 if none */
	int protocol;		/* RTPROT_* */
	int scope;
	int type;
};

/* find dst/prefix in the main table: 1 and *r filled, 0 if absent, -1 on error */
int rtnl_route4_get(int nl, const char *dst, int prefix, struct rtnl_route *r);

#endif /* ZDTM_NSUTIL_H */
