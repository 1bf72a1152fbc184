/*
 * posix_mq_ns_crfail: a POSIX message queue with messages in the test's
 * own ipc namespace, whose mqueue filesystem is mounted at mq/ in the work
 * dir (mount(2): suid; flavors ns/uns only).
 *
 * criu saves an mqueue mount only when it is empty -- it cannot save the
 * queues in it -- and must refuse the dump ("mqueue isn't empty") rather
 * than lose them.  (With nothing mounted the same queue is silently lost:
 * posix_mq_ns00.)  After the refused dump the test checks the queue is
 * untouched: mq/<name> is there, and mq_open finds the queue with its two
 * messages in priority order.
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

#define NAME "zdtm-posix_mq_ns_crfail"

int main(int argc, char **argv)
{
	struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 64 };
	char mnt[PATH_MAX], buf[65];
	unsigned int prio;
	int ret = 0;
	ssize_t n;
	mqd_t q;

	test_init(argc, argv);

	if (nsu_abspath("mq", mnt, sizeof(mnt)) || mkdir(mnt, 0755) || mount("zdtm-mqueue", mnt, "mqueue", 0, NULL)) {
		pr_perror("mounting an mqueue filesystem at mq/");
		return 1;
	}
	q = mq_open("/" NAME, O_WRONLY | O_CREAT | O_EXCL, 0600, &attr);
	if (q == (mqd_t)-1 || mq_send(q, "low", 3, 1) || mq_send(q, "high", 4, 5)) {
		pr_perror("mq_open / mq_send");
		return 1;
	}
	mq_close(q);

	test_daemon();
	test_waitsig();

	if (access("mq/" NAME, F_OK)) {
		fail("mq/" NAME " is gone");
		ret = 1;
	}
	q = mq_open("/" NAME, O_RDONLY | O_NONBLOCK);
	if (q == (mqd_t)-1) {
		fail("mq_open: the queue is gone");
		return 1;
	}
	n = mq_receive(q, buf, sizeof(buf), &prio);
	if (n != 4 || prio != 5 || memcmp(buf, "high", 4)) {
		fail("first message: %zd bytes, priority %u", n, prio);
		ret = 1;
	}
	n = mq_receive(q, buf, sizeof(buf), &prio);
	if (n != 3 || prio != 1 || memcmp(buf, "low", 3)) {
		fail("second message: %zd bytes, priority %u", n, prio);
		ret = 1;
	}
	mq_close(q);
	mq_unlink("/" NAME);
	if (!ret)
		pass();
	return ret;
}
