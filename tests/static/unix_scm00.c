/*
 * unix_scm00: AF_UNIX sockets with queued data AND file descriptors in
 * flight (SCM_RIGHTS messages sent but not yet received when the tree is
 * checkpointed).
 *
 *  - SOCK_STREAM pair: a message carrying the write end of a pipe that the
 *    task has closed (the fd exists only in the queue), then more bytes
 *    (bytes queued *before* an fd message lose their boundary: see
 *    unix_scm01, noauto);
 *  - SOCK_DGRAM pair: a plain datagram, then one carrying a regular file
 *    (closed by the task) opened at a known offset, then one carrying the
 *    write end of a second pipe that the task still holds too (so the
 *    received fd must be the same open file, not a reopened copy);
 *  - SOCK_SEQPACKET pair: one record carrying two fds at once, an eventfd
 *    with a counter and one end of another socketpair (both closed by the
 *    task), then a plain record.
 *
 * After restore every message is received with MSG_DONTWAIT and its data
 * checked, and every received fd must work: the pipe write end feeds the
 * read end the task kept, the file is at its offset with its content, the
 * eventfd has its counter, the socket still reaches its peer, and the
 * shared pipe end shares its file status flags with the task's own fd.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

static char *filename;
TEST_OPTION(filename, string, "a regular file to pass over a socket", 1);

#define FILE_LEN 8192
#define FILE_OFF 1234
#define EFD_COUNT 7

static int send_fds(int sk, const void *data, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *ch;

	if (nfds) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(ch), fds, sizeof(int) * nfds);
	}
	return sendmsg(sk, &mh, 0) == (ssize_t)len ? 0 : -1;
}

/*
 * Receive one message (up to len bytes for a stream) with up to 4 fds.
 * Returns the byte count, -1 on error; *nfds gets the number of fds.
 */
static ssize_t recv_fds(int sk, void *data, size_t len, int *fds, int *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *ch;
	ssize_t r;

	*nfds = 0;
	r = recvmsg(sk, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -1;
	if (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
		fail("message truncated (flags %#x)", mh.msg_flags);
		return -1;
	}
	for (ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
			int n = (int)((ch->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			memcpy(fds + *nfds, CMSG_DATA(ch), sizeof(int) * n);
			*nfds += n;
		}
	}
	return r;
}

/* exactly `len` bytes and `want` fds (a stream may split, so loop for data) */
static int expect_msg(int sk, const char *what, const void *data, size_t len, int *fds, int want)
{
	char buf[256];
	int n = 0;
	ssize_t r;

	r = recv_fds(sk, buf, len, fds, &n);
	if (r != (ssize_t)len || memcmp(buf, data, len)) {
		fail("%s: got %zd bytes '%.*s', expected '%.*s'", what, r, r > 0 ? (int)r : 0, buf,
		     (int)len, (const char *)data);
		return 1;
	}
	if (n != want) {
		fail("%s: got %d fds, expected %d", what, n, want);
		return 1;
	}
	return 0;
}

static int pipe_works(int wfd, int rfd, const char *what)
{
	char buf[16];

	if (write(wfd, what, 5) != 5) {
		fail("%s: can't write into the received pipe end", what);
		return 1;
	}
	if (read(rfd, buf, sizeof(buf)) != 5 || memcmp(buf, what, 5)) {
		fail("%s: the data written into the received pipe end did not come out of the kept read end",
		     what);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char fdata[FILE_LEN], buf[FILE_LEN];
	int st[2], dg[2], sp[2], p1[2], p2[2], u[2], ffd, efd, fds[4], ret = 0, fl;
	uint32_t crc = ~0u;
	uint64_t cnt;
	struct stat sb;

	test_init(argc, argv);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, u) ||
	    pipe(p1) || pipe(p2)) {
		pr_perror("socketpair/pipe");
		return 1;
	}
	ffd = open(filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (ffd < 0) {
		pr_perror("open %s", filename);
		return 1;
	}
	datagen(fdata, FILE_LEN, &crc);
	if (write_all(ffd, fdata, FILE_LEN) != FILE_LEN || lseek(ffd, FILE_OFF, SEEK_SET) != FILE_OFF) {
		pr_perror("write %s", filename);
		return 1;
	}
	efd = eventfd(EFD_COUNT, 0);
	if (efd < 0) {
		pr_perror("eventfd");
		return 1;
	}

	/* stream: fd, bytes */
	if (send_fds(st[0], "pipe", 4, &p1[1], 1) ||
	    send_fds(st[0], "tail", 4, NULL, 0)) {
		pr_perror("stream sendmsg");
		return 1;
	}
	/* dgram: plain, file, shared pipe end */
	if (send_fds(dg[0], "plain", 5, NULL, 0) || send_fds(dg[0], "file", 4, &ffd, 1) ||
	    send_fds(dg[0], "shared", 6, &p2[1], 1)) {
		pr_perror("dgram sendmsg");
		return 1;
	}
	/* seqpacket: two fds in one record, then a plain record */
	fds[0] = efd;
	fds[1] = u[1];
	if (send_fds(sp[1], "two", 3, fds, 2) || send_fds(sp[1], "last", 4, NULL, 0)) {
		pr_perror("seqpacket sendmsg");
		return 1;
	}
	/* the in-flight copies are now the only references to these */
	close(p1[1]);
	close(ffd);
	close(efd);
	close(u[1]);

	test_daemon();
	test_waitsig();

	/* stream */
	if (!expect_msg(st[1], "stream fd message", "pipe", 4, fds, 1))
		ret |= pipe_works(fds[0], p1[0], "pipe1");
	else
		ret = 1;
	ret |= expect_msg(st[1], "stream tail", "tail", 4, fds, 0);

	/* dgram */
	ret |= expect_msg(dg[1], "dgram plain", "plain", 5, fds, 0);
	if (!expect_msg(dg[1], "dgram file", "file", 4, fds, 1)) {
		ffd = fds[0];
		if (fstat(ffd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size != FILE_LEN) {
			fail("received file: not the %d-byte regular file", FILE_LEN);
			ret = 1;
		} else if (lseek(ffd, 0, SEEK_CUR) != FILE_OFF) {
			fail("received file: offset %lld, expected %d", (long long)lseek(ffd, 0, SEEK_CUR),
			     FILE_OFF);
			ret = 1;
		} else if (pread(ffd, buf, FILE_LEN, 0) != FILE_LEN || (crc = ~0u, datachk(buf, FILE_LEN, &crc))) {
			fail("received file: content differs");
			ret = 1;
		} else if ((fcntl(ffd, F_GETFL) & O_ACCMODE) != O_RDWR) {
			fail("received file: access mode changed");
			ret = 1;
		}
	} else
		ret = 1;
	if (!expect_msg(dg[1], "dgram shared pipe end", "shared", 6, fds, 1)) {
		ret |= pipe_works(fds[0], p2[0], "pipe2");
		/* same open file description as our own p2[1]? */
		if (set_nonblock(p2[1], 1)) {
			pr_perror("fcntl");
			ret = 1;
		} else if (!((fl = fcntl(fds[0], F_GETFL)) & O_NONBLOCK)) {
			fail("the received pipe end is not the same open file as the one the task kept "
			     "(flags %#x)", fl);
			ret = 1;
		}
	} else
		ret = 1;

	/* seqpacket */
	if (!expect_msg(sp[0], "seqpacket two fds", "two", 3, fds, 2)) {
		if (read(fds[0], &cnt, sizeof(cnt)) != sizeof(cnt) || cnt != EFD_COUNT) {
			fail("received eventfd: counter %llu, expected %d", (unsigned long long)cnt, EFD_COUNT);
			ret = 1;
		}
		if (write(fds[1], "ping", 4) != 4 || recv(u[0], buf, 4, MSG_DONTWAIT) != 4 ||
		    memcmp(buf, "ping", 4)) {
			fail("received socket: does not reach its peer any more");
			ret = 1;
		}
	} else
		ret = 1;
	ret |= expect_msg(sp[0], "seqpacket last", "last", 4, fds, 0);

	/* queues are empty now */
	errno = 0;
	if (recv(st[1], buf, 1, MSG_DONTWAIT) != -1 || recv(dg[1], buf, 1, MSG_DONTWAIT) != -1 ||
	    recv(sp[0], buf, 1, MSG_DONTWAIT) != -1) {
		fail("extra data queued after the expected messages");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
