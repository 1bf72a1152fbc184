/*
 * offsets00: one file, three file descriptors and two open file
 * descriptions.  fd1 and fd2 come from two open() calls (independent
 * offsets); fd3 = dup(fd1) shares fd1's offset; a child process inherited
 * fd1 across fork() and so shares that offset too.  Each description is
 * left at its own offset.
 * After restore: the offsets are the same; moving fd3 moves fd1 (and the
 * child's fd) but not fd2; moving fd2 moves nobody else; reads at each
 * offset return the file's bytes there.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define DATA_LEN (32 * 1024)
#define OFF1 1111
#define OFF2 2222
#define OFF3 3333 /* set through fd3 after restore */
#define OFF4 4444 /* set through fd1, checked by the child */

static task_waiter_t tw;
static int fd1;

static off_t cur(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

/* the child: reports its view of the shared offset as its exit code */
static int child(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	if (cur(fd1) != OFF1)
		return 1;
	task_complete(&tw, 3);
	task_wait(&tw, 4);
	if (cur(fd1) != OFF4)
		return 2;
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char data[DATA_LEN];
	unsigned char buf[16];
	uint32_t crc = ~0u;
	int fd2, fd3, ret = 0, code;
	off_t o1, o2;
	pid_t pid;

	test_init(argc, argv);

	fd1 = open(filename, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd1 < 0) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	datagen(data, sizeof(data), &crc);
	if (write_all(fd1, data, sizeof(data)) != (ssize_t)sizeof(data)) {
		pr_perror("write %s", filename);
		return 1;
	}
	fd2 = open(filename, O_RDONLY);
	fd3 = dup(fd1);
	if (fd2 < 0 || fd3 < 0) {
		pr_perror("open/dup");
		return 1;
	}
	if (lseek(fd1, OFF1, SEEK_SET) != OFF1 || lseek(fd2, OFF2, SEEK_SET) != OFF2) {
		pr_perror("lseek");
		return 1;
	}
	if (task_waiter_init(&tw))
		return 1;
	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	task_wait(&tw, 1);

	test_daemon();
	test_waitsig();
	errno = 0;

	if (cur(fd1) != OFF1 || cur(fd3) != OFF1) {
		fail("offsets of fd1/fd3 are %lld/%lld, expected %d", (long long)cur(fd1),
		     (long long)cur(fd3), OFF1);
		ret = 1;
	}
	if (cur(fd2) != OFF2) {
		fail("offset of fd2 is %lld, expected %d", (long long)cur(fd2), OFF2);
		ret = 1;
	}
	task_complete(&tw, 2);
	task_wait(&tw, 3);	/* the child saw OFF1 (else it exits with 1) */

	/* fd3 and fd1 share one description, fd2 has its own */
	if (lseek(fd3, OFF3, SEEK_SET) != OFF3) {
		fail("lseek fd3");
		ret = 1;
	}
	if (cur(fd1) != OFF3) {
		fail("moving dup'ed fd3 to %d left fd1 at %lld: the two no longer share an offset",
		     OFF3, (long long)cur(fd1));
		ret = 1;
	}
	if (cur(fd2) != OFF2) {
		fail("moving fd3 moved fd2 to %lld: separately opened fds share an offset",
		     (long long)cur(fd2));
		ret = 1;
	}
	o1 = cur(fd1);
	o2 = cur(fd2);
	if (lseek(fd2, 10, SEEK_CUR) != o2 + 10 || cur(fd1) != o1) {
		fail("moving fd2 moved fd1 (from %lld to %lld)", (long long)o1, (long long)cur(fd1));
		ret = 1;
	}
	/* reads follow the offsets */
	if (read(fd2, buf, sizeof(buf)) != sizeof(buf) || memcmp(buf, data + o2 + 10, sizeof(buf))) {
		fail("read through fd2 does not return the file's bytes at its offset");
		ret = 1;
	}
	if (read(fd1, buf, sizeof(buf)) != sizeof(buf) || memcmp(buf, data + o1, sizeof(buf)) ||
	    cur(fd3) != o1 + (off_t)sizeof(buf)) {
		fail("read through fd1 does not advance the shared offset");
		ret = 1;
	}

	/* the child's inherited fd shares fd1's description too */
	if (lseek(fd1, OFF4, SEEK_SET) != OFF4) {
		fail("lseek fd1");
		ret = 1;
	}
	task_complete(&tw, 4);
	code = wait_exit_code(pid);
	if (code == 1) {
		fail("the child's inherited fd was not at offset %d after restore", OFF1);
		ret = 1;
	} else if (code == 2) {
		fail("the child's inherited fd does not share the parent's offset any more");
		ret = 1;
	} else if (code != 0) {
		fail("the child exited with %d", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
