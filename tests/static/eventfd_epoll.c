/*
 * eventfd_epoll: an eventfd with a counter and an epoll instance watching
 * it (plus a second eventfd with a zero counter, watched for
 * EPOLLOUT|EPOLLET, its edge already consumed).  After restore: epoll
 * reports exactly the expected events with the registered data, the
 * edge-triggered state is kept and the counters read back intact.
 *
 * The counter fits in 32 bits and EFD_SEMAPHORE is not used: CRIU 4.2
 * restores neither a 64-bit counter nor semaphore mode (see eventfd01).
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zdtmtst.h"

#define COUNTER 0xfedcba98ULL
#define DATA1 0x1122334455667788ULL
#define DATA2 0x99aabbccddeeff00ULL

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[4];
	uint64_t v;
	int efd, efd2, ep, n, i, fl, ret = 0;
	int seen1 = 0, seen2 = 0;

	test_init(argc, argv);

	efd = eventfd(0, EFD_NONBLOCK);
	efd2 = eventfd(0, EFD_NONBLOCK);
	ep = epoll_create1(0);
	if (efd < 0 || efd2 < 0 || ep < 0) {
		pr_perror("eventfd/epoll_create");
		return 1;
	}
	v = COUNTER;
	if (write(efd, &v, sizeof(v)) != sizeof(v)) {
		pr_perror("write eventfd");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = DATA1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev)) {
		pr_perror("epoll_ctl");
		return 1;
	}
	ev.events = EPOLLOUT | EPOLLET;
	ev.data.u64 = DATA2;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd2, &ev)) {
		pr_perror("epoll_ctl");
		return 1;
	}

	test_daemon();
	test_waitsig();

	n = epoll_wait(ep, evs, 4, 0);
	if (n != 2) {
		fail("epoll_wait returned %d events, expected 2", n);
		ret = 1;
	}
	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 == DATA1 && evs[i].events == EPOLLIN)
			seen1++;
		else if (evs[i].data.u64 == DATA2 && evs[i].events == EPOLLOUT)
			seen2++;
		else {
			fail("unexpected epoll event %#x data %#llx", evs[i].events,
			     (unsigned long long)evs[i].data.u64);
			ret = 1;
		}
	}
	if (n == 2 && (seen1 != 1 || seen2 != 1)) {
		fail("epoll events: eventfd %d times, semaphore eventfd %d times", seen1, seen2);
		ret = 1;
	}
	/* edge-triggered: no second EPOLLOUT for efd2; level-triggered efd again */
	n = epoll_wait(ep, evs, 4, 0);
	if (n != 1 || evs[0].data.u64 != DATA1) {
		fail("second epoll_wait: %d events (edge-triggered state lost?)", n);
		ret = 1;
	}

	fl = fcntl(efd, F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK)) {
		fail("eventfd lost O_NONBLOCK");
		ret = 1;
	}
	if (read(efd, &v, sizeof(v)) != sizeof(v) || v != COUNTER) {
		fail("eventfd counter %#llx, expected %#llx", (unsigned long long)v, COUNTER);
		ret = 1;
	}
	errno = 0;
	if (read(efd, &v, sizeof(v)) != -1 || errno != EAGAIN) {
		fail("eventfd counter not reset by read");
		ret = 1;
	}
	/* efd2 still counts */
	v = 3;
	if (write(efd2, &v, sizeof(v)) != sizeof(v) || write(efd2, &v, sizeof(v)) != sizeof(v) ||
	    read(efd2, &v, sizeof(v)) != sizeof(v) || v != 6) {
		fail("efd2 does not count any more (%llu)", (unsigned long long)v);
		ret = 1;
	}
	/* efd is empty now; efd2's writes made a new edge: exactly one event, efd2's */
	n = epoll_wait(ep, evs, 4, 0);
	if (n != 1 || evs[0].data.u64 != DATA2 || evs[0].events != EPOLLOUT) {
		fail("epoll after draining: %d events (first %#llx)", n,
		     n > 0 ? (unsigned long long)evs[0].data.u64 : 0ULL);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
