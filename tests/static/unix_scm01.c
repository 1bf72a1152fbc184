/*
 * unix_scm01: on a SOCK_STREAM AF_UNIX socket, the position of an
 * SCM_RIGHTS message in the byte stream must survive checkpoint/restore.
 *
 * The queue holds "head" (no fd), then "pipe" carrying the write end of a
 * pipe, then "tail".  A reader asking for 4 bytes gets "head" and no fd,
 * then "pipe" with the fd, then "tail" -- that is what the kernel does
 * before the checkpoint.
 *
 * noauto: criu 4.2.1 gets this wrong.  It dumps a stream queue by peeking
 * (MSG_PEEK), and the kernel glues the bytes queued before an skb carrying
 * fds to it in one peek ("headpipe" + fd); criu restores that as one 8-byte
 * message with the fd, so after restore the fd arrives with "head" (the
 * restore log says "Restoring 8-bytes skb").  Data is intact; only the
 * place of the fd in the stream moves.  unix_scm00 covers the case criu
 * handles (an fd message at the head of the queue).
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

static int send_fd(int sk, const char *data, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)data, .iov_len = strlen(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *ch;

	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	}
	return sendmsg(sk, &mh, 0) == (ssize_t)iov.iov_len ? 0 : -1;
}

/* read 4 bytes; returns the number of fds that came with them, -1 on error */
static int recv4(int sk, char *buf, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = buf, .iov_len = 4 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *ch;
	int n = 0;

	if (recvmsg(sk, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 4)
		return -1;
	for (ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
			n += (int)((ch->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fd, CMSG_DATA(ch), sizeof(int));
		}
	return n;
}

int main(int argc, char **argv)
{
	static const char *const words[] = { "head", "pipe", "tail" };
	int sk[2], p[2], i, n, fd = -1, got_fd = -1, ret = 0;
	char buf[8];

	test_init(argc, argv);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk) || pipe(p)) {
		pr_perror("socketpair/pipe");
		return 1;
	}
	if (send_fd(sk[0], "head", -1) || send_fd(sk[0], "pipe", p[1]) || send_fd(sk[0], "tail", -1)) {
		pr_perror("sendmsg");
		return 1;
	}
	close(p[1]);

	test_daemon();
	test_waitsig();

	for (i = 0; i < 3; i++) {
		n = recv4(sk[1], buf, &fd);
		if (n < 0 || memcmp(buf, words[i], 4)) {
			fail("read #%d: expected '%s'", i + 1, words[i]);
			return 1;
		}
		if (n != (i == 1)) {
			fail("read #%d ('%s'): %d fds came with it, expected %d: the fd moved in the stream",
			     i + 1, words[i], n, i == 1);
			ret = 1;
		}
		if (n)
			got_fd = fd;
	}
	if (got_fd >= 0 && (write(got_fd, "x", 1) != 1 || read(p[0], buf, 1) != 1 || buf[0] != 'x')) {
		fail("the received pipe end does not feed the kept read end");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
