/*
 * posix_mq00: a POSIX message queue (mq_open) with messages queued.
 * The queue (O_RDWR|O_NONBLOCK, mq_maxmsg 8, mq_msgsize 256, mode 0600) holds
 * five messages sent with priorities 1, 7, 3, 7, 0, each with its own
 * contents.  After SIGTERM: the fd is still the queue of that name
 * (mq_getattr: maxmsg, msgsize, O_NONBLOCK, 5 messages), the messages come
 * out by priority, FIFO within a priority (7, 7, 3, 1, 0) with their
 * contents, then the queue is empty.  The queue is unlinked at the end,
 * and on every error path after it was created.
 *
 * crfail: CRIU 4.2 does not support POSIX message queues.  An mq fd is a
 * file on the kernel's internal mqueue mount, which is not in the task's
 * mountinfo (nothing mounts /dev/mqueue here), and criu refuses the dump
 * with "Can't lookup mount=N for fd=N path=/<queue name>".  The checks
 * above then make sure the refused dump left the queue untouched.  (Where
 * /dev/mqueue is mounted criu would dump the fd as a plain file, which
 * restores neither the queue nor its messages in a new ipc namespace.)
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MAXMSG 8
#define MSGSIZE 256

static char name[64];

static const struct {
	unsigned prio;
	const char *text;
} msgs[] = {
	{ 1, "first, priority 1" },
	{ 7, "second, priority 7" },
	{ 3, "third, priority 3" },
	{ 7, "fourth, priority 7 (after the second)" },
	{ 0, "fifth, priority 0" },
};

static const int order[] = { 1, 3, 2, 0, 4 };

static int finish(int ret)
{
	if (mq_unlink(name) && ret == 0) {
		fail("mq_unlink %s", name);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}

int main(int argc, char **argv)
{
	struct mq_attr attr = { .mq_maxmsg = MAXMSG, .mq_msgsize = MSGSIZE };
	char buf[MSGSIZE + 1];
	unsigned prio, i;
	ssize_t n;
	mqd_t q;
	int ret = 0;

	test_init(argc, argv);

	snprintf(name, sizeof(name), "/zdtm-posix_mq00-%d", getpid());
	q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr);
	if (q == (mqd_t)-1) {
		if (errno == ENOSYS)
			skip("no POSIX message queues in this kernel");
		pr_perror("mq_open %s", name);
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(msgs); i++)
		if (mq_send(q, msgs[i].text, strlen(msgs[i].text), msgs[i].prio)) {
			pr_perror("mq_send");
			mq_unlink(name);
			return 1;
		}

	test_daemon();
	test_waitsig();
	errno = 0;

	if (mq_getattr(q, &attr)) {
		fail("mq_getattr: the fd is no longer a message queue");
		return finish(1);
	}
	if (attr.mq_maxmsg != MAXMSG || attr.mq_msgsize != MSGSIZE || !(attr.mq_flags & O_NONBLOCK) ||
	    attr.mq_curmsgs != (long)ARRAY_SIZE(msgs)) {
		fail("attributes changed: maxmsg %ld msgsize %ld flags %#lx curmsgs %ld, expected %d %d "
		     "O_NONBLOCK %zu", attr.mq_maxmsg, attr.mq_msgsize, attr.mq_flags, attr.mq_curmsgs, MAXMSG,
		     MSGSIZE, ARRAY_SIZE(msgs));
		ret = 1;
	}
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		int k = order[i];

		n = mq_receive(q, buf, sizeof(buf), &prio);
		if (n < 0) {
			fail("message %u: mq_receive", i + 1);
			return finish(1);
		}
		buf[n] = '\0';
		if (prio != msgs[k].prio || strcmp(buf, msgs[k].text)) {
			fail("message %u: \"%s\" priority %u, expected \"%s\" priority %u", i + 1, buf, prio,
			     msgs[k].text, msgs[k].prio);
			ret = 1;
		}
	}
	errno = 0;
	n = mq_receive(q, buf, sizeof(buf), &prio);
	if (n != -1 || errno != EAGAIN) {
		fail("the queue holds more messages than were sent");
		ret = 1;
	}
	errno = 0;
	/* the name still leads to this queue */
	{
		mqd_t q2 = mq_open(name, O_WRONLY);

		if (q2 == (mqd_t)-1 || mq_send(q2, "x", 1, 5) || mq_receive(q, buf, sizeof(buf), &prio) != 1 ||
		    prio != 5) {
			fail("%s does not name the restored queue any more", name);
			ret = 1;
		}
	}
	return finish(ret);
}
