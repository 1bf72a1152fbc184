/*
 * epoll02: an EPOLLONESHOT target whose shot was used before the checkpoint
 * (a pipe read end, EPOLLIN|EPOLLONESHOT, reported once by epoll_wait()).
 * The kernel then keeps only the mode bits (fdinfo "events: 40000000"): the
 * target reports nothing at all -- not even EPOLLHUP -- until it is re-armed
 * with EPOLL_CTL_MOD.  After restore: fdinfo shows the same disarmed
 * events; closing the pipe's write end reports nothing; re-arming then
 * reports EPOLLIN|EPOLLHUP.
 *
 * noauto -- a CRIU 4.2 limitation: criu re-creates the target with
 * EPOLL_CTL_ADD and the dumped events (EPOLLONESHOT alone), and the kernel
 * always adds EPOLLERR|EPOLLHUP on ADD: the restored target reads
 * "events: 40000018" and fires EPOLLHUP when the writer goes away.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DATA 0x0123456789abcdefULL

static unsigned events_in_fdinfo(int ep)
{
	char *info, *p;
	unsigned ev = ~0u;

	info = read_fdinfo(ep);
	if (info && (p = strstr(info, "events:")))
		ev = strtoul(p + 7, NULL, 16);
	free(info);
	return ev;
}

int main(int argc, char **argv)
{
	struct epoll_event ev;
	int p[2], ep, n, ret = 0;
	unsigned e;

	test_init(argc, argv);

	ep = epoll_create1(0);
	if (ep < 0 || pipe2(p, O_NONBLOCK) || write(p[1], "x", 1) != 1) {
		pr_perror("epoll_create1/pipe/write");
		return 1;
	}
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = DATA;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)) {
		pr_perror("epoll_ctl ADD");
		return 1;
	}
	n = epoll_wait(ep, &ev, 1, 0);
	if (n != 1 || ev.events != EPOLLIN || ev.data.u64 != DATA) {
		pr_err("epoll_wait before the checkpoint: %d events", n);
		return 1;
	}
	e = events_in_fdinfo(ep);
	if (e != EPOLLONESHOT) {
		pr_err("a used one-shot shows events %#x in fdinfo, expected %#x", e, EPOLLONESHOT);
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	e = events_in_fdinfo(ep);
	if (e != EPOLLONESHOT) {
		fail("the disarmed one-shot target has events %#x after restore, expected %#x", e,
		     EPOLLONESHOT);
		ret = 1;
	}
	close(p[1]);
	n = epoll_wait(ep, &ev, 1, 0);
	if (n != 0) {
		fail("the disarmed one-shot target reported events %#x when its writer closed",
		     n > 0 ? ev.events : 0);
		ret = 1;
	}
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = DATA;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)) {
		fail("EPOLL_CTL_MOD");
		return 1;
	}
	n = epoll_wait(ep, &ev, 1, 0);
	if (n != 1 || ev.events != (EPOLLIN | EPOLLHUP) || ev.data.u64 != DATA) {
		fail("after re-arming: %d events (%#x), expected EPOLLIN|EPOLLHUP", n, n > 0 ? ev.events : 0);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
