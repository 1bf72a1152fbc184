/*
 * unix_path00: AF_UNIX sockets bound to filesystem paths.
 *
 *  - a SOCK_STREAM listener at an absolute path, its socket file chmod'ed
 *    to 0640, with one connection accepted and one left in the backlog;
 *  - a SOCK_DGRAM socket bound with a *relative* name (the task's cwd is
 *    the test directory), with a datagram queued from a client that
 *    is connect()ed to it by path;
 *  - a SOCK_SEQPACKET listener in a subdirectory.
 *
 * After restore: getsockname() returns the same names (the relative one
 * stays relative), the socket files exist, are sockets, keep their mode
 * and owner, the queued datagram is there, the connected client still
 * reaches the dgram socket, the pending connection can be accepted, and
 * new clients connect to both listeners by path.
 *
 * Not checked: the name of the accepted socket (criu restores established
 * stream sockets unnamed: see unix_abstract00).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *dirname;
TEST_OPTION(dirname, string, "directory for the socket files", 1);

#define STREAM_MODE 0640
#define DGRAM_REL "dgram.sock"

static char p_stream[PATH_MAX], p_dgram[PATH_MAX], p_seq[PATH_MAX];

static socklen_t fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strncpy(sun->sun_path, path, sizeof(sun->sun_path) - 1);
	return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static int check_name(int sk, const char *expected, const char *what)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(sk, (struct sockaddr *)&sun, &len)) {
		fail("%s: getsockname", what);
		return 1;
	}
	if (len <= offsetof(struct sockaddr_un, sun_path) || strcmp(sun.sun_path, expected)) {
		fail("%s: name is '%s' (len %u), expected '%s'", what, sun.sun_path, len, expected);
		return 1;
	}
	return 0;
}

static int check_file(const char *path, mode_t mode, const char *what)
{
	struct stat st;

	if (stat(path, &st)) {
		fail("%s: socket file %s is gone", what, path);
		return 1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fail("%s: %s is not a socket any more (mode %o)", what, path, st.st_mode);
		return 1;
	}
	if ((st.st_mode & 07777) != mode) {
		fail("%s: %s has mode %o, expected %o", what, path, st.st_mode & 07777, mode);
		return 1;
	}
	if (st.st_uid != getuid() || st.st_gid != getgid()) {
		fail("%s: %s is owned by %u:%u, expected %u:%u", what, path, st.st_uid, st.st_gid, getuid(),
		     getgid());
		return 1;
	}
	return 0;
}

static int new_client(int lsk, int type, const char *path, const char *what)
{
	int c, s, ret;

	c = unix_connect(path, type);
	if (c < 0) {
		fail("%s: a new client can't connect to %s", what, path);
		return 1;
	}
	s = accept(lsk, NULL, NULL);
	if (s < 0) {
		fail("%s: accept of a new client", what);
		close(c);
		return 1;
	}
	ret = sk_talks(c, s, what);
	close(c);
	close(s);
	return ret;
}

int main(int argc, char **argv)
{
	int lst, dg, lsp, cli, srv, pend, dcli, s, ret = 0;
	struct sockaddr_un sun;
	mode_t mode_dgram, mode_seq;
	struct stat st;
	char buf[64];
	ssize_t r;

	test_init(argc, argv);

	if (mkdir(dirname, 0755) && errno != EEXIST) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	snprintf(p_stream, sizeof(p_stream), "%s/stream.sock", dirname);
	snprintf(p_dgram, sizeof(p_dgram), "%s/%s", dirname, DGRAM_REL);
	snprintf(p_seq, sizeof(p_seq), "%s/sub", dirname);
	if (mkdir(p_seq, 0700)) {
		pr_perror("mkdir %s", p_seq);
		return 1;
	}
	snprintf(p_seq, sizeof(p_seq), "%s/sub/seq.sock", dirname);
	if (strlen(p_stream) >= sizeof(sun.sun_path) || strlen(p_seq) >= sizeof(sun.sun_path)) {
		pr_err("socket paths under %s are too long for sun_path", dirname);
		return 1;
	}

	lst = unix_listen(p_stream, SOCK_STREAM);
	lsp = unix_listen(p_seq, SOCK_SEQPACKET);
	if (lst < 0 || lsp < 0) {
		pr_perror("bind/listen");
		return 1;
	}
	if (chmod(p_stream, STREAM_MODE)) {
		pr_perror("chmod %s", p_stream);
		return 1;
	}

	/*
	 * Relative bind, from the test directory; the task stays there.  (criu
	 * dumping as an unprivileged user can't use SIOCUNIXFILE -- it needs
	 * CAP_NET_ADMIN -- and then resolves a relative name only against the
	 * task's current cwd and root: a task that chdir()s away after binding
	 * can't be dumped that way: "Can't resolve name for socket".)
	 */
	if (chdir(dirname)) {
		pr_perror("chdir %s", dirname);
		return 1;
	}
	dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (dg < 0 || bind(dg, (struct sockaddr *)&sun, fill(&sun, DGRAM_REL))) {
		pr_perror("bind %s", DGRAM_REL);
		return 1;
	}
	if (stat(p_dgram, &st) || stat(p_seq, &st)) {
		pr_perror("stat");
		return 1;
	}
	stat(p_dgram, &st);
	mode_dgram = st.st_mode & 07777;
	stat(p_seq, &st);
	mode_seq = st.st_mode & 07777;

	cli = unix_connect(p_stream, SOCK_STREAM);
	if (cli < 0 || (srv = accept(lst, NULL, NULL)) < 0) {
		pr_perror("connect/accept");
		return 1;
	}
	pend = unix_connect(p_stream, SOCK_STREAM);
	dcli = unix_connect(p_dgram, SOCK_DGRAM);
	if (pend < 0 || dcli < 0) {
		pr_perror("connect");
		return 1;
	}
	if (send(dcli, "datagram", 8, 0) != 8 || send(cli, "queued", 6, 0) != 6) {
		pr_perror("send");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_name(lst, p_stream, "stream listener");
	ret |= check_name(dg, DGRAM_REL, "dgram socket (relative name)");
	ret |= check_name(lsp, p_seq, "seqpacket listener");
	ret |= check_file(p_stream, STREAM_MODE, "stream listener");
	ret |= check_file(p_dgram, mode_dgram, "dgram socket");
	ret |= check_file(p_seq, mode_seq, "seqpacket listener");

	r = recv(srv, buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 6 || memcmp(buf, "queued", 6)) {
		fail("accepted connection: queued data lost (%zd)", r);
		ret = 1;
	}
	ret |= sk_talks(cli, srv, "accepted connection");

	s = accept(lst, NULL, NULL);
	if (s < 0) {
		fail("the pending connection is gone from the backlog");
		ret = 1;
	} else {
		ret |= sk_talks(pend, s, "pending connection");
		close(s);
	}

	r = recv(dg, buf, sizeof(buf), MSG_DONTWAIT);
	if (r != 8 || memcmp(buf, "datagram", 8)) {
		fail("dgram socket: queued datagram lost (%zd)", r);
		ret = 1;
	}
	if (send(dcli, "again", 5, 0) != 5 || recv(dg, buf, sizeof(buf), MSG_DONTWAIT) != 5 ||
	    memcmp(buf, "again", 5)) {
		fail("dgram client: no longer connected to the dgram socket");
		ret = 1;
	}
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || sendto(s, "bypath", 6, 0, (struct sockaddr *)&sun, fill(&sun, p_dgram)) != 6 ||
	    recv(dg, buf, sizeof(buf), MSG_DONTWAIT) != 6 || memcmp(buf, "bypath", 6)) {
		fail("dgram socket: not reachable by its path any more");
		ret = 1;
	}

	ret |= new_client(lst, SOCK_STREAM, p_stream, "stream listener");
	ret |= new_client(lsp, SOCK_SEQPACKET, p_seq, "seqpacket listener");

	if (!ret)
		pass();
	return ret;
}
