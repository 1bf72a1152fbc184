/*
 * sock_relpath00: UNIX sockets bound with relative paths, in the test's cwd
 * (a directory made with --dirname): a listening stream socket "srv" with an
 * accepted connection that has data queued both ways, and a datagram socket
 * "sub/dg" (a relative path with a directory) with a datagram queued.
 * After restore: getsockname() still gives the relative names, the socket
 * files are there (with their modes) and lead to the restored sockets -- a
 * new client can connect to "srv" and be accepted, a datagram sent to
 * "sub/dg" arrives -- and the queued data reads back.
 * (A relative name criu cannot find again: sock_relpath_crfail.)
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

#define C2S "client to server"
#define S2C "server to client"
#define DG "queued datagram"

static int check_name(int sk, const char *name)
{
	struct sockaddr_un a;
	socklen_t len = sizeof(a);

	memset(&a, 0, sizeof(a));
	if (getsockname(sk, (struct sockaddr *)&a, &len) || strcmp(a.sun_path, name)) {
		fail("getsockname: \"%s\", expected \"%s\"", a.sun_path, name);
		return 1;
	}
	return 0;
}

static int check_file(const char *name, mode_t mode)
{
	struct stat st = { 0 };

	if (stat(name, &st) || !S_ISSOCK(st.st_mode) || (st.st_mode & 0777) != mode) {
		fail("%s is no longer a socket file with mode %o (mode %o)", name, mode, st.st_mode);
		return 1;
	}
	return 0;
}

static int recv_str(int sk, const char *want, const char *what)
{
	char buf[64];
	ssize_t n;

	memset(buf, 0, sizeof(buf));
	n = recv(sk, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n != (ssize_t)strlen(want) || strcmp(buf, want)) {
		fail("%s: got \"%s\" (%zd), expected \"%s\"", what, n > 0 ? buf : "", n, want);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int srv, cli, acc, dg, c2, a2, ret = 0;

	test_init(argc, argv);

	if (mkdir(dirname, 0700) || chdir(dirname) || mkdir("sub", 0700)) {
		pr_perror("mkdir/chdir %s", dirname);
		return 1;
	}
	srv = unix_listen("srv", SOCK_STREAM);
	dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (srv < 0 || dg < 0) {
		pr_perror("unix_listen/socket");
		return 1;
	}
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "sub/dg" };

		if (bind(dg, (struct sockaddr *)&a, sizeof(a))) {
			pr_perror("bind sub/dg");
			return 1;
		}
	}
	if (chmod("srv", 0751) || chmod("sub/dg", 0640)) {
		pr_perror("chmod");
		return 1;
	}
	cli = unix_connect("srv", SOCK_STREAM);
	acc = cli < 0 ? -1 : accept(srv, NULL, NULL);
	c2 = unix_connect("sub/dg", SOCK_DGRAM);
	if (acc < 0 || c2 < 0) {
		pr_perror("connect/accept");
		return 1;
	}
	if (send(cli, C2S, strlen(C2S), 0) != (ssize_t)strlen(C2S) ||
	    send(acc, S2C, strlen(S2C), 0) != (ssize_t)strlen(S2C) ||
	    send(c2, DG, strlen(DG), 0) != (ssize_t)strlen(DG)) {
		pr_perror("send");
		return 1;
	}
	close(c2);

	test_daemon();
	test_waitsig();
	errno = 0;

	ret |= check_name(srv, "srv");
	ret |= check_name(dg, "sub/dg");
	ret |= check_file("srv", 0751);
	ret |= check_file("sub/dg", 0640);
	ret |= recv_str(acc, C2S, "accepted connection");
	ret |= recv_str(cli, S2C, "client");
	ret |= recv_str(dg, DG, "datagram socket, queued");

	c2 = unix_connect("srv", SOCK_STREAM);
	if (c2 < 0) {
		fail("cannot connect to \"srv\" any more");
		ret = 1;
	} else {
		set_nonblock(srv, 1);
		a2 = accept(srv, NULL, NULL);
		if (a2 < 0 || send(c2, "x", 1, 0) != 1 || recv_str(a2, "x", "new connection")) {
			fail("a new connection to \"srv\" is not accepted by the restored listener");
			ret = 1;
		}
	}
	c2 = unix_connect("sub/dg", SOCK_DGRAM);
	if (c2 < 0 || send(c2, "y", 1, 0) != 1 || recv_str(dg, "y", "datagram socket, new")) {
		fail("a datagram sent to \"sub/dg\" does not reach the restored socket");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
