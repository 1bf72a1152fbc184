/*
 * sock_relpath_crfail: a UNIX datagram socket bound with a relative path
 * ("sk", in the test's cwd) whose socket file was then renamed
 * ("sk-renamed").  The kernel keeps reporting the bound name "sk", which
 * no longer leads to the socket; criu resolves relative names through the
 * socket's file (root: SIOCUNIXFILE, "Unable too cut sk from .../sk-renamed")
 * or, unprivileged, by looking for the name under the task's cwd and root
 * ("Can't resolve name for socket"), and must refuse the dump either way.
 * (A relative name that still resolves is dumped fine: sock_relpath00.)
 * After the refused dump: getsockname() still says "sk", a datagram sent
 * to "sk-renamed" reaches the socket, "sk" does not exist.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

#define MSG "via the renamed file"

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "sk" };
	socklen_t alen = sizeof(a);
	int s, c, ret = 0;
	char buf[64];
	ssize_t n;

	test_init(argc, argv);

	if (mkdir(dirname, 0700) || chdir(dirname)) {
		pr_perror("mkdir/chdir %s", dirname);
		return 1;
	}
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || rename("sk", "sk-renamed")) {
		pr_perror("socket/bind/rename");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	memset(&a, 0, sizeof(a));
	if (getsockname(s, (struct sockaddr *)&a, &alen) || strcmp(a.sun_path, "sk")) {
		fail("getsockname: \"%s\", expected \"sk\"", a.sun_path);
		ret = 1;
	}
	if (access("sk", F_OK) == 0) {
		fail("\"sk\" exists again");
		ret = 1;
	}
	errno = 0;
	c = unix_connect("sk-renamed", SOCK_DGRAM);
	if (c < 0 || send(c, MSG, sizeof(MSG), 0) != sizeof(MSG)) {
		fail("cannot send to the renamed socket file");
		return 1;
	}
	n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != sizeof(MSG) || strcmp(buf, MSG)) {
		fail("the bound socket did not get the datagram sent to its file (%zd)", n);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
