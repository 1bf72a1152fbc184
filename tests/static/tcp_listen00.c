/*
 * tcp_listen00: a listening TCP socket on 127.0.0.1 with a connection
 * waiting in its accept queue at checkpoint time.
 *
 * The listener is bound to an ephemeral port with SO_REUSEADDR,
 * SO_KEEPALIVE and a non-default SO_RCVBUF.  The pending connection comes
 * from a helper outside the dumped tree (double-forked, re-parented away),
 * so that the only TCP state in the tree is the listener: an in-tree
 * client would be an established socket needing --tcp-established.
 *
 * criu refuses a listener with a non-empty accept queue ("In-flight
 * connection (l)") unless given --skip-in-flight, which drops those
 * connections (the .desc passes it; the old kernel socket is destroyed
 * with the dumped task and the helper's connection is reset).
 *
 * After restore: the socket is still listening (SO_ACCEPTCONN) on the same
 * address and port, keeps its options, and a new client connects, is
 * accepted and exchanges data both ways.  (The dropped connection is not
 * checked for: without a restore, e.g. `zdtm run --norst`, it is still
 * queued; it is then accepted and closed so the helper exits.)
 *
 * The helper exits as soon as its connection ends (reset after the dump,
 * or closed by the workload when run without a restore) or after a
 * timeout.
 *
 * flavor h: in a pid namespace the helper would be re-parented to the
 * namespace's init, inside the dumped tree.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

#define RCVBUF 65536
#define HELPER_TIMEOUT 300

/* double fork: the grandchild connects, reports, and waits for its end */
static int start_helper(const struct sockaddr_in *addr)
{
	int rep[2], sk, fd;
	char c;
	pid_t pid;

	if (pipe(rep))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		/* the helper: keep only the report pipe and stdio */
		for (fd = 3; fd < 1024; fd++)
			if (fd != rep[1])
				close(fd);
		/* out of the workload's session: its id would keep the workload's pid busy */
		setsid();
		alarm(HELPER_TIMEOUT);
		sk = socket(AF_INET, SOCK_STREAM, 0);
		c = (sk >= 0 && !connect(sk, (const struct sockaddr *)addr, sizeof(*addr))) ? 'C' : 'E';
		if (write(rep[1], &c, 1) != 1 || c != 'C')
			_exit(1);
		close(rep[1]);
		while (read(sk, &c, 1) > 0)
			;
		_exit(0);
	}
	close(rep[1]);
	if (wait_exit_code(pid) != 0 || read(rep[0], &c, 1) != 1 || c != 'C') {
		close(rep[0]);
		return -1;
	}
	close(rep[0]);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr, got;
	socklen_t len;
	int lsk, c, s, one = 1, rcvbuf = RCVBUF, rcvbuf_eff, ret = 0;
	char buf[16];

	test_init(argc, argv);

	lsk = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0) {
		pr_perror("socket");
		return 1;
	}
	if (setsockopt(lsk, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(lsk, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) ||
	    setsockopt(lsk, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))) {
		pr_perror("setsockopt");
		return 1;
	}
	rcvbuf_eff = sock_getint(lsk, SOL_SOCKET, SO_RCVBUF);
	if (tcp_listen_loopback(lsk, 5, &addr)) {
		pr_perror("bind/listen on 127.0.0.1");
		return 1;
	}
	test_msg("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));

	if (start_helper(&addr)) {
		pr_err("the helper could not connect");
		return 1;
	}
	/* the connection is in the accept queue once connect() has returned */

	test_daemon();
	test_waitsig();

	if (sock_getint(lsk, SOL_SOCKET, SO_ACCEPTCONN) != 1) {
		fail("the socket is not listening any more");
		ret = 1;
	}
	len = sizeof(got);
	if (getsockname(lsk, (struct sockaddr *)&got, &len) || got.sin_family != AF_INET ||
	    got.sin_addr.s_addr != addr.sin_addr.s_addr || got.sin_port != addr.sin_port) {
		fail("bound address changed: %s:%d, expected 127.0.0.1:%d", inet_ntoa(got.sin_addr),
		     ntohs(got.sin_port), ntohs(addr.sin_port));
		ret = 1;
	}
	if (sock_getint(lsk, SOL_SOCKET, SO_REUSEADDR) != 1 || sock_getint(lsk, SOL_SOCKET, SO_KEEPALIVE) != 1) {
		fail("SO_REUSEADDR/SO_KEEPALIVE lost");
		ret = 1;
	}
	if (sock_getint(lsk, SOL_SOCKET, SO_RCVBUF) != rcvbuf_eff) {
		fail("SO_RCVBUF is %d, expected %d", sock_getint(lsk, SOL_SOCKET, SO_RCVBUF), rcvbuf_eff);
		ret = 1;
	}

	/*
	 * The in-flight connection: dropped by --skip-in-flight.  If it is
	 * still there (a run without restore), accept and close it so that
	 * the helper exits.
	 */
	set_nonblock(lsk, 1);
	s = accept(lsk, NULL, NULL);
	if (s >= 0) {
		test_msg("the pending connection was still queued (no restore happened)\n");
		close(s);
	}
	set_nonblock(lsk, 0);

	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
		fail("a new client can't connect to 127.0.0.1:%d", ntohs(addr.sin_port));
		return 1;
	}
	s = accept(lsk, NULL, NULL);
	if (s < 0) {
		fail("accept of a new client");
		return 1;
	}
	if (write(c, "ping", 4) != 4 || read(s, buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4) ||
	    write(s, "pong", 4) != 4 || read(c, buf, sizeof(buf)) != 4 || memcmp(buf, "pong", 4)) {
		fail("the accepted connection does not carry data both ways");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
