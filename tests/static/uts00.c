/*
 * uts00: the uts namespace.  The workload sets its own host name and NIS
 * domain name (sethostname/setdomainname need CAP_SYS_ADMIN over the uts
 * namespace: suid; in uns that is root of the flavor's user namespace,
 * which owns the uts namespace).  After restore both names must be the
 * ones we set -- through gethostname()/getdomainname(), uname() and
 * /proc/sys/kernel/{hostname,domainname} -- and not the flavor's
 * "zdtm-ns"/"zdtm-uns" nor the host's.  The names are restored by criu as
 * part of the uts namespace, so this is for ns/uns only (in h the host's
 * names would be changed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "zdtmtst.h"

static int check_proc(const char *path, const char *want)
{
	char *s = read_file(path, NULL);
	size_t n;

	if (!s) {
		fail("reading %s", path);
		return 1;
	}
	n = strlen(s);
	if (n && s[n - 1] == '\n')
		s[n - 1] = 0;
	if (strcmp(s, want)) {
		fail("%s is \"%s\", expected \"%s\"", path, s, want);
		free(s);
		return 1;
	}
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	char host[64], dom[64], buf[128];
	struct utsname u;
	int ret = 0;

	test_init(argc, argv);

	/* 63 characters would be the maximum (HOST_NAME_MAX 64 with the NUL):
	 * use long names, different from anything the flavor sets. */
	snprintf(host, sizeof(host), "zdtm-uts00-host-%d-abcdefghijklmnopqrstuvwxyz0123", getpid());
	snprintf(dom, sizeof(dom), "uts00.domain.%d.example", getpid());
	if (sethostname(host, strlen(host))) {
		pr_perror("sethostname");
		return 1;
	}
	if (setdomainname(dom, strlen(dom))) {
		pr_perror("setdomainname");
		return 1;
	}
	if (gethostname(buf, sizeof(buf)) || strcmp(buf, host)) {
		pr_err("gethostname right after sethostname: \"%s\"", buf);
		return 1;
	}

	test_daemon();
	test_waitsig();

	memset(buf, 0, sizeof(buf));
	if (gethostname(buf, sizeof(buf))) {
		fail("gethostname");
		ret = 1;
	} else if (strcmp(buf, host)) {
		fail("host name is \"%s\", expected \"%s\"", buf, host);
		ret = 1;
	}
	memset(buf, 0, sizeof(buf));
	if (getdomainname(buf, sizeof(buf))) {
		fail("getdomainname");
		ret = 1;
	} else if (strcmp(buf, dom)) {
		fail("domain name is \"%s\", expected \"%s\"", buf, dom);
		ret = 1;
	}
	if (uname(&u)) {
		fail("uname");
		ret = 1;
	} else {
		if (strcmp(u.nodename, host)) {
			fail("uname nodename is \"%s\", expected \"%s\"", u.nodename, host);
			ret = 1;
		}
		if (strcmp(u.domainname, dom)) {
			fail("uname domainname is \"%s\", expected \"%s\"", u.domainname, dom);
			ret = 1;
		}
	}
	ret |= check_proc("/proc/sys/kernel/hostname", host);
	ret |= check_proc("/proc/sys/kernel/domainname", dom);

	if (!ret)
		pass();
	return ret;
}
