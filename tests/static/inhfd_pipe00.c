/*
 * inhfd_pipe00: criu restore --inherit-fd. The workload's fd --inhfd is the
 * read end of a pipe whose write end the harness keeps (outside the tree).
 * criu restore gets a read end of that same pipe from the harness
 * (--inherit-fd fd[N]:pipe:[INO]) and must put it in place of the workload's
 * fd instead of creating a new pipe: the line the harness writes after the
 * restore must arrive here.
 */
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define EXPECTED "zdtm: written by the harness after restore\n"

static int inhfd = -1;
TEST_OPTION(inhfd, int, "read end of the harness's pipe", 1);

int main(int argc, char **argv)
{
	struct stat st_before, st_after;
	struct pollfd pfd;
	char buf[128] = "";
	ssize_t n;

	test_init(argc, argv);
	if (fstat(inhfd, &st_before) || !S_ISFIFO(st_before.st_mode)) {
		pr_perror("--inhfd=%d is not a pipe", inhfd);
		return 1;
	}
	test_daemon();
	test_waitsig();

	if (fstat(inhfd, &st_after)) {
		fail("fd %d is gone", inhfd);
		return 1;
	}
	if (!S_ISFIFO(st_after.st_mode) || st_after.st_ino != st_before.st_ino) {
		fail("fd %d is not the same pipe: inode %lu, was %lu", inhfd,
		     (unsigned long)st_after.st_ino, (unsigned long)st_before.st_ino);
		return 1;
	}
	pfd.fd = inhfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1) {
		fail("nothing arrived from the harness through the inherited pipe");
		return 1;
	}
	n = read(inhfd, buf, sizeof(buf) - 1);
	if (n != (ssize_t)strlen(EXPECTED) || memcmp(buf, EXPECTED, n)) {
		fail("read %zd bytes '%s' from the inherited pipe, expected the harness's line", n, buf);
		return 1;
	}
	pass();
	return 0;
}
