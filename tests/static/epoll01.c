/*
 * epoll01: one epoll instance watching several kinds of fds in different
 * modes, with its readiness state partly consumed before the checkpoint.
 *  A  pipe read end, EPOLLIN (level), data queued           -> data 1
 *  A' dup() of A, registered on its own, EPOLLIN            -> data 2
 *  B  pipe read end, EPOLLIN|EPOLLONESHOT, data queued      -> data 3
 *  C  pipe read end, EPOLLIN|EPOLLET, data queued           -> data 4
 *  E  eventfd, EPOLLOUT (level)                             -> data 5
 *  S  socketpair end, EPOLLIN|EPOLLRDHUP, peer shut down    -> data 6
 *  D  pipe read end, EPOLLIN, empty                         -> data 7
 * Before the checkpoint one epoll_wait() reports A, A', C, E, S (which
 * consumes C's edge); B is added after that, so its one shot is still armed.
 * After restore: fdinfo lists the same targets with the same events and
 * data; epoll_wait() reports exactly A, A', B, E, S with the right event
 * bits (D is not ready, C is discussed below); a second one no longer
 * reports B (its shot is used); re-arming B with EPOLL_CTL_MOD reports it
 * again, new data makes D and C ready, C (edge-triggered) only once.
 * (A one-shot already disarmed at the checkpoint: epoll02, noauto.)
 *
 * C, the edge already consumed before the checkpoint: criu re-adds the fd
 * with EPOLL_CTL_ADD on restore, and the kernel queues any fd that is ready
 * when it is added, so one extra EPOLLIN for C after restore is accepted
 * (and logged); a second one would be a failure.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

enum { A = 1, A2, B, C, E, S, D, NR };

static const char *const names[NR] = { "?", "A", "A'", "B", "C", "E", "S", "D" };

/* one epoll_wait(): events[data] for each reported target; returns the count */
static int wait_events(int ep, uint32_t *events)
{
	struct epoll_event evs[16];
	int n, i;

	memset(events, 0, NR * sizeof(*events));
	n = epoll_wait(ep, evs, 16, 0);
	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 >= NR) {
			fail("epoll reported unknown data %#llx", (unsigned long long)evs[i].data.u64);
			return -1;
		}
		events[evs[i].data.u64] = evs[i].events;
	}
	return n;
}

static int expect(int ep, const uint32_t *want, const char *when, uint32_t *ignore_c)
{
	uint32_t got[NR];
	int n, i, ret = 0;

	n = wait_events(ep, got);
	if (n < 0)
		return 1;
	if (ignore_c) {
		*ignore_c = got[C];
		got[C] = want[C];
	}
	for (i = 1; i < NR; i++)
		if (got[i] != want[i]) {
			fail("%s: %s reported with events %#x, expected %#x", when, names[i], got[i], want[i]);
			ret = 1;
		}
	return ret;
}

/* "tfd: N events: E data: D" lines of the epoll fdinfo, sorted by data */
static char *targets(int ep)
{
	char *info, *p, *out, *line[NR];
	unsigned long long data;
	size_t len = 0;
	int tfd, i;
	unsigned ev;

	memset(line, 0, sizeof(line));
	info = read_fdinfo(ep);
	if (!info)
		return NULL;
	out = calloc(1, strlen(info) + 1);
	for (p = strtok(info, "\n"); p; p = strtok(NULL, "\n"))
		if (sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) == 3 && data < NR) {
			if (asprintf(&line[data], "tfd %d events %x data %llx\n", tfd, ev, data) < 0)
				line[data] = NULL;
		}
	for (i = 1; i < NR; i++)
		if (line[i]) {
			len += sprintf(out + len, "%s", line[i]);
			free(line[i]);
		}
	free(info);
	return out;
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
	int pa[2], pb[2], pc[2], pd[2], sk[2], a2, efd, ep, ret = 0;
	uint32_t want[NR], c_extra;
	char *t_before, *t_after, buf[16];
	struct epoll_event ev;

	test_init(argc, argv);

	if (pipe2(pa, O_NONBLOCK) || pipe2(pb, O_NONBLOCK) || pipe2(pc, O_NONBLOCK) ||
	    pipe2(pd, O_NONBLOCK) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sk)) {
		pr_perror("pipe/socketpair");
		return 1;
	}
	a2 = dup(pa[0]);
	efd = eventfd(0, EFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (a2 < 0 || efd < 0 || ep < 0) {
		pr_perror("dup/eventfd/epoll_create1");
		return 1;
	}
	if (write(pa[1], "a", 1) != 1 || write(pb[1], "b", 1) != 1 || write(pc[1], "c", 1) != 1 ||
	    shutdown(sk[1], SHUT_WR)) {
		pr_perror("queue data");
		return 1;
	}
	if (add(ep, pa[0], EPOLLIN, A) || add(ep, a2, EPOLLIN, A2) || add(ep, pc[0], EPOLLIN | EPOLLET, C) ||
	    add(ep, efd, EPOLLOUT, E) || add(ep, sk[0], EPOLLIN | EPOLLRDHUP, S) ||
	    add(ep, pd[0], EPOLLIN, D)) {
		pr_perror("epoll_ctl ADD");
		return 1;
	}
	memset(want, 0, sizeof(want));
	want[A] = want[A2] = want[C] = EPOLLIN;
	want[E] = EPOLLOUT;
	want[S] = EPOLLIN | EPOLLRDHUP;
	if (expect(ep, want, "before the checkpoint", NULL))
		return 1;
	if (add(ep, pb[0], EPOLLIN | EPOLLONESHOT, B)) {
		pr_perror("epoll_ctl ADD");
		return 1;
	}
	t_before = targets(ep);
	if (!t_before || !*t_before) {
		pr_err("no targets in the epoll fdinfo");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	t_after = targets(ep);
	if (!t_after || strcmp(t_before, t_after)) {
		fail("epoll targets changed:\nbefore:\n%safter:\n%s", t_before, t_after ? t_after : "?\n");
		ret = 1;
	}
	if (!(fcntl(ep, F_GETFD) & FD_CLOEXEC)) {
		fail("the epoll fd lost FD_CLOEXEC");
		ret = 1;
	}

	want[B] = EPOLLIN;	/* one-shot, still armed */
	want[C] = 0;		/* edge consumed (see the header) */
	ret |= expect(ep, want, "after restore", &c_extra);
	want[B] = 0;		/* its shot is used */
	if (c_extra)
		test_msg("C (edge-triggered, edge consumed before the checkpoint) was reported once more "
			 "after restore (events %#x): criu re-adds it while it is ready", c_extra);
	if (c_extra & ~EPOLLIN) {
		fail("C reported with events %#x", c_extra);
		ret = 1;
	}
	ret |= expect(ep, want, "after restore, second epoll_wait", NULL);

	/* re-arm B; new data for C and D */
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = B;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, pb[0], &ev) || write(pc[1], "C", 1) != 1 || write(pd[1], "d", 1) != 1) {
		fail("EPOLL_CTL_MOD / write");
		return 1;
	}
	want[B] = want[C] = want[D] = EPOLLIN;
	ret |= expect(ep, want, "after re-arming B and writing to C and D", NULL);
	want[B] = want[C] = 0;
	ret |= expect(ep, want, "once more (B one-shot, C edge-triggered)", NULL);

	/* the data is still what was queued */
	if (read(pa[0], buf, sizeof(buf)) != 1 || buf[0] != 'a' || read(pb[0], buf, sizeof(buf)) != 1 ||
	    buf[0] != 'b' || read(pc[0], buf, sizeof(buf)) != 2 || memcmp(buf, "cC", 2)) {
		fail("the pipes do not hold the queued data");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
