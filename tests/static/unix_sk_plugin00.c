/*
 * unix_sk_plugin00: a UNIX stream socket connected to a service outside the
 * dumped tree (unix_sk_plugin00.peer, which the harness runs as root, as
 * D-Bus would be), dumped and restored by a criu plugin
 * (plugins/unix_sk_plugin00.c: CR_PLUGIN_HOOK__DUMP_UNIX_SK /
 * RESTORE_UNIX_SK).
 *
 * The test subscribes to two topics on its connection: that state lives in
 * the peer, tied to the connection, and dies with it when criu kills the
 * dumped tree. The plugin asks the peer for it at dump time (over the
 * task's own socket) and, at restore, connects anew and replays it.
 *
 * After restore, through the same fd: the peer lists exactly the two
 * subscriptions, in order; publishing to one topic reaches this connection
 * (EVENT) and nothing else; the other topic too; a topic never subscribed
 * reaches nobody. Without the plugin criu refuses the dump
 * (unix_sk_noplugin_crfail).
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SOCK_NAME "sub.peer.sock"
#define CONNECT_TRIES 1000	/* x 10 ms: the peer starts beside the test */

static int sk = -1;

/* One reply line (without its \n) into buf; -1 on error or after 5 s. */
static int read_line(char *buf, size_t len)
{
	size_t n = 0;
	struct pollfd p = { .fd = sk, .events = POLLIN };

	while (n + 1 < len) {
		if (poll(&p, 1, 5000) != 1)
			return -1;
		if (read(sk, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

/* Sends req (unless NULL: reads on), expects the next line to be want. */
static int ask(const char *req, const char *want)
{
	char line[256];

	if ((req && dprintf(sk, "%s\n", req) < 0) || read_line(line, sizeof(line))) {
		pr_perror("%s: no answer from the peer", req ? req : want);
		return -1;
	}
	if (strcmp(line, want)) {
		fail("%s: the peer answered '%s', expected '%s'", req ? req : "(reading on)", line, want);
		return -1;
	}
	return 0;
}

static int connect_peer(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int i;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		pr_err("socket path %s too long", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	for (i = 0; i < CONNECT_TRIES; i++) {
		sk = socket(AF_UNIX, SOCK_STREAM, 0);
		if (sk < 0)
			return -1;
		if (connect(sk, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return 0;
		close(sk);
		usleep(10000);
	}
	pr_perror("connect to the peer at %s", path);
	return -1;
}

int main(int argc, char **argv)
{
	char cwd[256], path[300];
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);

	test_init(argc, argv);
	if (!getcwd(cwd, sizeof(cwd)))
		return 1;
	snprintf(path, sizeof(path), "%s/%s", cwd, SOCK_NAME);
	if (connect_peer(path))
		return 1;
	if (ask("SUB alpha", "OK SUB alpha 1") || ask("SUB beta", "OK SUB beta 2"))
		return 1;

	test_daemon();
	test_waitsig();

	if (getpeername(sk, (struct sockaddr *)&peer, &plen) || strcmp(peer.sun_path, path)) {
		fail("the fd is not connected to the peer at %s any more", path);
		return 1;
	}
	if (ask("LIST", "SUBS alpha beta"))
		return 1;
	if (ask("PUBLISH beta", "EVENT beta") || ask(NULL, "OK PUBLISH 1"))
		return 1;
	if (ask("PUBLISH alpha", "EVENT alpha") || ask(NULL, "OK PUBLISH 1"))
		return 1;
	if (ask("PUBLISH gamma", "OK PUBLISH 0"))
		return 1;
	pass();
	return 0;
}
