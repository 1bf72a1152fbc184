/*
 * posix_mq_ns00: a POSIX message queue that lives in the test's own ipc
 * namespace with nobody holding it open (flavors ns/uns: the queue belongs
 * to the ipc namespace criu dumps; in h it would be the host's).
 *
 * The queue /zdtm-posix_mq_ns00 (maxmsg 6, msgsize 128, mode 0640) gets
 * three messages (priorities 2, 9, 2) and is closed again: it now exists
 * only in the namespace, like a file nobody has open.  Nothing mounts the
 * mqueue filesystem.  After restore mq_open(name) (no O_CREAT) must find it
 * with its attributes and mode, and the messages must come out by priority, FIFO
 * within one (9, then the two 2s in order).
 *
 * noauto: CRIU 4.2 silently drops it.  criu saves POSIX queues neither with
 * the ipc namespace (only SysV objects and the mqueue sysctls) nor as files
 * unless they are open (a queue fd on the kernel's internal mount is then
 * refused, see posix_mq00), and it only looks at an mqueue filesystem
 * someone has mounted (and refuses one that is not empty, see
 * posix_mq_ns_crfail).  Here the dump succeeds and after restore the
 * queue does not exist (mq_open: ENOENT).
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NAME "/zdtm-posix_mq_ns00"
#define MAXMSG 6
#define MSGSIZE 128

static const struct {
	unsigned int prio;
	const char *text;
} msgs[] = {
	{ 2, "first, priority 2" },
	{ 9, "second, priority 9" },
	{ 2, "third, priority 2 (after the first)" },
};
static const int order[] = { 1, 0, 2 };

int main(int argc, char **argv)
{
	struct mq_attr attr = { .mq_maxmsg = MAXMSG, .mq_msgsize = MSGSIZE };
	char buf[MSGSIZE + 1];
	struct stat st;
	unsigned int prio, i;
	int ret = 0;
	ssize_t n;
	mqd_t q;

	test_init(argc, argv);

	umask(0);
	q = mq_open(NAME, O_WRONLY | O_CREAT | O_EXCL, 0640, &attr);
	if (q == (mqd_t)-1) {
		if (errno == ENOSYS)
			skip("no POSIX message queues in this kernel");
		pr_perror("mq_open " NAME);
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(msgs); i++)
		if (mq_send(q, msgs[i].text, strlen(msgs[i].text), msgs[i].prio)) {
			pr_perror("mq_send");
			mq_unlink(NAME);
			return 1;
		}
	mq_close(q);

	test_daemon();
	test_waitsig();

	q = mq_open(NAME, O_RDONLY | O_NONBLOCK);
	if (q == (mqd_t)-1) {
		fail("mq_open(" NAME ") after restore: the queue is gone");
		return 1;
	}
	if (mq_getattr(q, &attr) || attr.mq_maxmsg != MAXMSG || attr.mq_msgsize != MSGSIZE ||
	    attr.mq_curmsgs != (long)ARRAY_SIZE(msgs)) {
		fail("attributes: maxmsg %ld msgsize %ld curmsgs %ld; expected %d %d %zu", attr.mq_maxmsg,
		     attr.mq_msgsize, attr.mq_curmsgs, MAXMSG, MSGSIZE, ARRAY_SIZE(msgs));
		ret = 1;
	}
	if (fstat(q, &st) || (st.st_mode & 0777) != 0640) {
		fail("the queue's mode is %o, expected 640", st.st_mode & 0777);
		ret = 1;
	}
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		int k = order[i];

		n = mq_receive(q, buf, sizeof(buf), &prio);
		if (n < 0) {
			fail("message %u: mq_receive", i + 1);
			ret = 1;
			break;
		}
		buf[n] = 0;
		if (prio != msgs[k].prio || strcmp(buf, msgs[k].text)) {
			fail("message %u: \"%s\" priority %u; expected \"%s\" priority %u", i + 1, buf, prio,
			     msgs[k].text, msgs[k].prio);
			ret = 1;
		}
	}
	mq_close(q);
	mq_unlink(NAME);
	if (!ret)
		pass();
	return ret;
}
