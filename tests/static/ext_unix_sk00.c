/*
 * ext_unix_sk00: a UNIX datagram socket whose peer lives outside the
 * dumped tree (criu --ext-unix-sk).
 *
 * The workload double-forks a helper that leaves the tree (it is
 * re-parented to the harness, a child subreaper) and binds a SOCK_DGRAM
 * socket at <dir>/peer.sock.  The workload's socket is bound at
 * <dir>/self.sock and connect()ed to the helper's; the helper has queued
 * two datagrams to it before the checkpoint.
 *
 * criu refuses to dump a socket connected to a peer outside the tree
 * unless given --ext-unix-sk ("External socket is used"); with it, the
 * peer is recorded by name only and the restored socket is connect()ed to
 * that name again.  criu supports this for datagram peers only (for a
 * stream connection it refuses: "Can't dump half of stream unix
 * connection"), and only for a named peer.
 *
 * After restore: the socket has its own name and is connected to the
 * helper's name (getpeername), the two queued datagrams are there, and it
 * still talks to the very same helper process: a "ping" sent with send()
 * (the restored connection) reaches it and its "pong", sent back by name,
 * arrives.  Then "bye" makes the helper exit; it also exits by itself
 * after a timeout, and the harness kills it if it is still there.
 *
 * flavor h: in a pid namespace the helper would be re-parented to the
 * namespace's init, inside the dumped tree, and the peer not external.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *dirname;
TEST_OPTION(dirname, string, "directory for the socket files", 1);

#define HELPER_TIMEOUT 300

static socklen_t fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strncpy(sun->sun_path, path, sizeof(sun->sun_path) - 1);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

/* the helper: answers "ping..." with "pong..." + its pid, exits on "bye" */
static void helper(const char *peer_path, const char *self_path, int rep)
{
	struct sockaddr_un me, from, to;
	socklen_t flen;
	char buf[128], out[160];
	int sk, fd;
	ssize_t r;

	for (fd = 3; fd < 1024; fd++)
		if (fd != rep)
			close(fd);
	/*
	 * Leave the workload's session and process group too: while any
	 * process is in them, the workload's pid (their id) stays in use and
	 * criu can't restore the workload with it ("Can't fork for <pid>:
	 * File exists").
	 */
	setsid();
	alarm(HELPER_TIMEOUT);
	sk = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sk < 0 || bind(sk, (struct sockaddr *)&me, fill(&me, peer_path)))
		_exit(1);
	fill(&to, self_path);
	if (sendto(sk, "hello1", 6, 0, (struct sockaddr *)&to, sizeof(to)) != 6 ||
	    sendto(sk, "hello-2", 7, 0, (struct sockaddr *)&to, sizeof(to)) != 7)
		_exit(1);
	if (write(rep, "R", 1) != 1)
		_exit(1);
	close(rep);
	for (;;) {
		flen = sizeof(from);
		r = recvfrom(sk, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &flen);
		if (r < 0)
			_exit(1);
		buf[r] = 0;
		if (!strcmp(buf, "bye")) {
			unlink(peer_path);
			_exit(0);
		}
		if (!strncmp(buf, "ping", 4) && flen > offsetof(struct sockaddr_un, sun_path)) {
			snprintf(out, sizeof(out), "pong%s from %d", buf + 4, (int)getpid());
			sendto(sk, out, strlen(out), 0, (struct sockaddr *)&from, flen);
		}
	}
}

static pid_t start_helper(const char *peer_path, const char *self_path)
{
	int rep[2], pp[2];
	pid_t pid, hpid = -1;
	char c;

	if (pipe(rep) || pipe(pp))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(rep[0]);
		close(pp[0]);
		hpid = fork();
		if (hpid == 0) {
			close(pp[1]);
			helper(peer_path, self_path, rep[1]);
		}
		/* tell the workload the helper's pid, then leave it orphaned */
		if (write(pp[1], &hpid, sizeof(hpid)) != sizeof(hpid))
			_exit(1);
		_exit(0);
	}
	close(rep[1]);
	close(pp[1]);
	if (wait_exit_code(pid) != 0 || read(pp[0], &hpid, sizeof(hpid)) != sizeof(hpid) ||
	    read(rep[0], &c, 1) != 1 || c != 'R')
		hpid = -1;
	close(rep[0]);
	close(pp[0]);
	return hpid;
}

/* wait for the (not our child) helper to exit: pidfd */
static int wait_helper(pid_t pid)
{
	struct pollfd pfd = { .events = POLLIN };

	pfd.fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd.fd < 0)
		return errno == ESRCH ? 0 : -1;
	if (poll(&pfd, 1, 5000) != 1) {
		close(pfd.fd);
		return -1;
	}
	close(pfd.fd);
	return 0;
}

static int same_path(const struct sockaddr_un *sun, socklen_t len, const char *path)
{
	return len > offsetof(struct sockaddr_un, sun_path) && !strcmp(sun->sun_path, path);
}

int main(int argc, char **argv)
{
	char peer_path[PATH_MAX], self_path[PATH_MAX], buf[160], want[64];
	struct sockaddr_un sun;
	struct pollfd pfd;
	socklen_t len;
	pid_t hpid;
	int sk, ret = 0;
	ssize_t r;

	test_init(argc, argv);

	if (mkdir(dirname, 0755) && errno != EEXIST) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	snprintf(peer_path, sizeof(peer_path), "%s/peer.sock", dirname);
	snprintf(self_path, sizeof(self_path), "%s/self.sock", dirname);
	if (strlen(peer_path) >= sizeof(sun.sun_path)) {
		pr_err("%s is too long for sun_path", peer_path);
		return 1;
	}

	sk = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sk < 0 || bind(sk, (struct sockaddr *)&sun, fill(&sun, self_path))) {
		pr_perror("bind %s", self_path);
		return 1;
	}
	hpid = start_helper(peer_path, self_path);
	if (hpid < 0) {
		pr_err("the helper did not start");
		return 1;
	}
	if (getppid() == hpid) {
		pr_err("the helper is still our child");
		return 1;
	}
	if (connect(sk, (struct sockaddr *)&sun, fill(&sun, peer_path))) {
		pr_perror("connect to %s", peer_path);
		return 1;
	}
	test_msg("helper %d outside the tree holds %s\n", (int)hpid, peer_path);

	test_daemon();
	test_waitsig();

	len = sizeof(sun);
	if (getsockname(sk, (struct sockaddr *)&sun, &len) || !same_path(&sun, len, self_path)) {
		fail("the socket's own name changed ('%s')", sun.sun_path);
		ret = 1;
	}
	len = sizeof(sun);
	memset(&sun, 0, sizeof(sun));
	if (getpeername(sk, (struct sockaddr *)&sun, &len) || !same_path(&sun, len, peer_path)) {
		fail("not connected to the external peer %s any more (peer '%s')", peer_path, sun.sun_path);
		ret = 1;
	}

	r = recv(sk, buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 6 || memcmp(buf, "hello1", 6)) {
		fail("first queued datagram lost or changed (%zd)", r);
		ret = 1;
	}
	r = recv(sk, buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 7 || memcmp(buf, "hello-2", 7)) {
		fail("second queued datagram lost or changed (%zd)", r);
		ret = 1;
	}

	if (send(sk, "ping-after-restore", 18, 0) != 18) {
		fail("send to the external peer through the restored connection");
		ret = 1;
	} else {
		pfd.fd = sk;
		pfd.events = POLLIN;
		snprintf(want, sizeof(want), "pong-after-restore from %d", (int)hpid);
		if (poll(&pfd, 1, 5000) != 1) {
			fail("no answer from the external peer");
			ret = 1;
		} else {
			r = recv(sk, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			buf[r > 0 ? r : 0] = 0;
			if (strcmp(buf, want)) {
				fail("answer '%s', expected '%s'", buf, want);
				ret = 1;
			}
		}
	}
	if (send(sk, "bye", 3, 0) != 3)
		pr_perror("can't tell the helper to exit (the harness will kill it)");
	else if (wait_helper(hpid))
		test_msg("the helper %d did not exit within 5 s (the harness will kill it)\n", (int)hpid);

	if (!ret)
		pass();
	return ret;
}
