/*
 * ext_peer_crfail: a UNIX stream socket whose peer lives outside the dumped
 * process tree.  The test makes a socketpair, forks a child that forks the
 * helper and exits at once: the helper (which keeps the other end) is
 * re-parented away from the test (to the nearest subreaper or init), so
 * `criu dump --tree <test>` sees one end of a connection whose other end it
 * cannot dump, and without --ext-unix-sk it must refuse.
 * After the refused dump the connection must still work: the test sends a
 * request, the helper answers it, the test checks the answer.  The helper
 * exits as soon as its end reads EOF, i.e. when the test closes its end or
 * exits for whatever reason (even SIGKILL); the test waits for that EOF
 * before it reports, so no helper outlives it.
 *
 * Host flavor only: in ns/uns the helper would be re-parented to the
 * namespace's init, which criu dumps too -- the peer would be inside.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

#define REQ "ping from the test"

static int helper(int sk)
{
	char buf[256], reply[300];
	ssize_t n;
	int len;

	for (;;) {
		n = read(sk, buf, sizeof(buf) - 1);
		if (n <= 0)
			return 0;	/* the test has gone: so do we */
		buf[n] = '\0';
		len = snprintf(reply, sizeof(reply), "helper %d got: %s", (int)getpid(), buf);
		if (write_all(sk, reply, len) != len)
			return 1;
	}
}

int main(int argc, char **argv)
{
	char buf[512], expect[512];
	int sk[2], hpid_pipe[2], ret = 0, code, fd;
	pid_t child, hpid = 0;
	ssize_t n;

	test_init(argc, argv);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk) || pipe(hpid_pipe)) {
		pr_perror("socketpair/pipe");
		return 1;
	}
	child = fork();
	if (child < 0) {
		pr_perror("fork");
		return 1;
	}
	if (child == 0) {
		pid_t h = fork();

		if (h == 0) {
			/* the helper: nothing of the test but its socket end */
			setsid();
			signal(SIGTERM, SIG_IGN);
			for (fd = 0; fd < 1024; fd++)
				if (fd != sk[1])
					close(fd);
			_exit(helper(sk[1]));
		}
		if (write(hpid_pipe[1], &h, sizeof(h)) != sizeof(h))
			_exit(1);
		_exit(h < 0);
	}
	close(sk[1]);
	close(hpid_pipe[1]);
	code = wait_exit_code(child);
	if (code != 0 || read(hpid_pipe[0], &hpid, sizeof(hpid)) != sizeof(hpid) || hpid <= 0) {
		pr_err("could not start the helper (%d)", code);
		return 1;
	}
	close(hpid_pipe[0]);
	test_msg("the peer end is held by pid %d, outside the test's tree", (int)hpid);

	test_daemon();
	test_waitsig();
	errno = 0;

	snprintf(expect, sizeof(expect), "helper %d got: " REQ, (int)hpid);
	if (send(sk[0], REQ, strlen(REQ), MSG_NOSIGNAL) != (ssize_t)strlen(REQ)) {
		fail("cannot send to the helper");
		ret = 1;
	} else {
		n = read_all(sk[0], buf, strlen(expect));
		buf[n > 0 ? n : 0] = '\0';
		if (n != (ssize_t)strlen(expect) || strcmp(buf, expect)) {
			fail("the helper answered \"%s\", expected \"%s\"", buf, expect);
			ret = 1;
		}
	}
	/* let the helper go, and wait until it has */
	shutdown(sk[0], SHUT_WR);
	n = read(sk[0], buf, sizeof(buf));
	if (n != 0) {
		fail("the helper did not close its end (read %zd)", n);
		ret = 1;
	}
	errno = 0;
	if (!ret)
		pass();
	return ret;
}
