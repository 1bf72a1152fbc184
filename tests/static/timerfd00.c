/*
 * timerfd00: timerfds in three states.
 *  - t1: CLOCK_MONOTONIC, periodic (3 s interval), non-blocking; its first
 *    expiration (50 ms after setup) happened before the checkpoint and is
 *    left unread; timerfd_gettime() then re-armed it for the next period;
 *  - t2: CLOCK_REALTIME, one-shot, absolute (TFD_TIMER_ABSTIME), one hour
 *    ahead;
 *  - t3: CLOCK_BOOTTIME, disarmed.
 * After restore: t1 keeps its interval, the unread expiration is still
 * there, it is armed (at most one period ahead) and it expires again, once
 * per period; t2 is still armed and fires at the same wall-clock time
 * (remaining time within the hour, consistent with the time that has
 * passed); t3 is disarmed and never fires.  Clocks and flags are kept
 * (fdinfo clockid, O_NONBLOCK, FD_CLOEXEC).
 *
 * Why t1 is re-armed and has a long period: the kernel's fdinfo of a
 * periodic timerfd whose last expiration has not been read yet shows
 * it_value 0 (the timer is only pushed forward on read/timerfd_gettime),
 * and CRIU 4.2 restores that as a disarmed timer -- see timerfd01 (noauto).
 * With a 3 s period the checkpoint (and the second one with --iters 2)
 * happens well before t1's next expiration.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define FIRST_NS (50 * 1000 * 1000L)
#define PERIOD 3
#define HOUR 3600

static int clockid_of(int fd)
{
	char *info, *p;
	int id = -1;

	info = read_fdinfo(fd);
	if (info && (p = strstr(info, "clockid:")))
		id = atoi(p + 8);
	free(info);
	return id;
}

static uint64_t ticks(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	errno = 0;
	return n;
}

int main(int argc, char **argv)
{
	struct itimerspec its, cur;
	struct timespec now, deadline;
	struct pollfd pfd;
	uint64_t n;
	time_t t;
	int t1, t2, t3, ret = 0;

	test_init(argc, argv);

	t1 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	t2 = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	t3 = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	if (t1 < 0 || t2 < 0 || t3 < 0) {
		pr_perror("timerfd_create");
		return 1;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = FIRST_NS;
	its.it_interval.tv_sec = PERIOD;
	if (timerfd_settime(t1, 0, &its, NULL)) {
		pr_perror("timerfd_settime t1");
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += HOUR;
	memset(&its, 0, sizeof(its));
	its.it_value = deadline;
	if (timerfd_settime(t2, TFD_TIMER_ABSTIME, &its, NULL)) {
		pr_perror("timerfd_settime t2");
		return 1;
	}
	/* let t1 expire once; leave the tick unread, re-arm it */
	usleep(2 * FIRST_NS / 1000);
	if (timerfd_gettime(t1, &cur)) {
		pr_perror("timerfd_gettime");
		return 1;
	}
	if (cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0) {
		pr_err("t1 is not re-armed by timerfd_gettime()");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	if (clockid_of(t1) != CLOCK_MONOTONIC || clockid_of(t2) != CLOCK_REALTIME ||
	    clockid_of(t3) != CLOCK_BOOTTIME) {
		fail("clocks changed: %d %d %d, expected %d %d %d", clockid_of(t1), clockid_of(t2),
		     clockid_of(t3), CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME);
		ret = 1;
	}
	if (!(fcntl(t1, F_GETFL) & O_NONBLOCK) || (fcntl(t2, F_GETFL) & O_NONBLOCK) ||
	    !(fcntl(t2, F_GETFD) & FD_CLOEXEC) || !(fcntl(t3, F_GETFL) & O_NONBLOCK)) {
		fail("timerfd flags changed");
		ret = 1;
	}

	/* t1: periodic, armed, with the old ticks */
	if (timerfd_gettime(t1, &cur)) {
		fail("timerfd_gettime t1");
		return 1;
	}
	if (cur.it_interval.tv_sec != PERIOD || cur.it_interval.tv_nsec != 0) {
		fail("t1 interval is %ld.%09ld, expected %d s", (long)cur.it_interval.tv_sec,
		     cur.it_interval.tv_nsec, PERIOD);
		ret = 1;
	}
	if ((cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0) || cur.it_value.tv_sec >= PERIOD) {
		fail("t1 fires in %ld.%09ld s, expected within one period (0, %d s)",
		     (long)cur.it_value.tv_sec, cur.it_value.tv_nsec, PERIOD);
		ret = 1;
	}
	n = ticks(t1);
	if (n != 1) {
		fail("t1 has %llu expirations to read, expected the 1 from before the checkpoint",
		     (unsigned long long)n);
		ret = 1;
	}
	/* and the next one comes within a period */
	pfd.fd = t1;
	pfd.events = POLLIN;
	t = time(NULL);
	if (poll(&pfd, 1, (PERIOD + 1) * 1000) != 1) {
		fail("t1 did not expire within %d s: it is not armed", PERIOD + 1);
		ret = 1;
	} else {
		n = ticks(t1);
		test_msg("t1 expired %llu time(s) after %ld s", (unsigned long long)n, (long)(time(NULL) - t));
		if (n != 1) {
			fail("t1 expired %llu times within one period", (unsigned long long)n);
			ret = 1;
		}
		if (timerfd_gettime(t1, &cur) || (cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0)) {
			fail("t1 is not periodic any more: disarmed after expiring");
			ret = 1;
		}
	}

	/* t2: still the same absolute deadline */
	if (timerfd_gettime(t2, &cur)) {
		fail("timerfd_gettime t2");
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	{
		long long left = cur.it_value.tv_sec, should = deadline.tv_sec - now.tv_sec;

		if ((cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0) || cur.it_interval.tv_sec ||
		    cur.it_interval.tv_nsec) {
			fail("t2 is disarmed or became periodic");
			ret = 1;
		} else if (left > HOUR || left < should - 2 || left > should + 2) {
			fail("t2 fires in %llds, expected %llds (one hour after setup)", left, should);
			ret = 1;
		}
	}

	/* t3: disarmed, no ticks */
	if (timerfd_gettime(t3, &cur) || cur.it_value.tv_sec || cur.it_value.tv_nsec ||
	    cur.it_interval.tv_sec || cur.it_interval.tv_nsec) {
		fail("t3 got armed");
		ret = 1;
	}
	errno = 0;
	if (read(t3, &n, sizeof(n)) != -1 || errno != EAGAIN) {
		fail("the disarmed t3 has expirations");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
