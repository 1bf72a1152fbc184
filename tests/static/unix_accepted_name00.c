/*
 * unix_accepted_name00: the name of an accepted AF_UNIX stream socket.
 *
 * A socket accept()ed from a listener bound to a name gets that name too:
 * getsockname() on it, and getpeername() on the client, return the
 * listener's name.  The workload keeps such a pair (listener bound to an
 * abstract name) and checks both after restore.
 *
 * noauto: criu 4.2.1 restores an established stream socket without its
 * name -- a FIXME in criu's bind_unix_sk(): "this can be done, but for
 * doing this properly we need to bind socket to its name, then rename one
 * to some temporary unique one and after all the sockets are restored we
 * should walk those temp names and rename some of them back to real ones".
 * After restore both calls return an unnamed address.  It passes with
 * `zdtm run --norst`.  unix_abstract00 and unix_path00 check everything
 * else about named sockets.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct sockaddr_un name, got;
	socklen_t nlen, len;
	int lsk, cli, srv, ret = 0;

	test_init(argc, argv);

	memset(&name, 0, sizeof(name));
	name.sun_family = AF_UNIX;
	snprintf(name.sun_path + 1, sizeof(name.sun_path) - 1, "zdtm-unix_accepted_name00-%d", (int)getpid());
	nlen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name.sun_path + 1);

	lsk = socket(AF_UNIX, SOCK_STREAM, 0);
	cli = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lsk < 0 || cli < 0 || bind(lsk, (struct sockaddr *)&name, nlen) || listen(lsk, 1) ||
	    connect(cli, (struct sockaddr *)&name, nlen) || (srv = accept(lsk, NULL, NULL)) < 0) {
		pr_perror("listen/connect/accept");
		return 1;
	}
	len = sizeof(got);
	if (getsockname(srv, (struct sockaddr *)&got, &len) || len != nlen || memcmp(&got, &name, nlen)) {
		pr_err("the kernel does not name accepted sockets as expected");
		return 1;
	}

	test_daemon();
	test_waitsig();

	len = sizeof(got);
	memset(&got, 0, sizeof(got));
	if (getsockname(srv, (struct sockaddr *)&got, &len) || len != nlen || memcmp(&got, &name, nlen)) {
		fail("accepted socket: getsockname() gives %u bytes, expected the listener's name (%u)", len, nlen);
		ret = 1;
	}
	len = sizeof(got);
	memset(&got, 0, sizeof(got));
	if (getpeername(cli, (struct sockaddr *)&got, &len) || len != nlen || memcmp(&got, &name, nlen)) {
		fail("client: getpeername() gives %u bytes, expected the listener's name (%u)", len, nlen);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
