/*
 * timerfd01: a periodic timerfd (CLOCK_MONOTONIC, 100 ms period) whose
 * expirations are left unread: at the checkpoint it has expired and has
 * not been read since.  After restore it must still be armed with its
 * period, keep the expirations counted so far and go on counting (about
 * one per 100 ms).
 *
 * noauto -- a CRIU 4.2 bug: the kernel only pushes a periodic timerfd
 * forward when it is read (or timerfd_gettime()d); until then its fdinfo,
 * which criu dumps, shows "it_value: (0, 0)".  criu restores that with
 * timerfd_settime(it_value = 0), i.e. disarms the timer: after restore no
 * new expiration ever comes.  The count is short too: fdinfo's "ticks: 1"
 * omits the periods that passed after the first unread expiration (the
 * kernel adds those overruns on read), so 1 is restored where a read would
 * have returned >= 2.  A timer that has not expired since it was last read
 * (timerfd00) is restored fine.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PERIOD_NS (100 * 1000 * 1000L)

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
	uint64_t n;
	int fd, ret = 0;

	test_init(argc, argv);

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	if (fd < 0) {
		pr_perror("timerfd_create");
		return 1;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = PERIOD_NS;
	its.it_interval.tv_nsec = PERIOD_NS;
	if (timerfd_settime(fd, 0, &its, NULL)) {
		pr_perror("timerfd_settime");
		return 1;
	}
	/* expire at least twice; nothing reads the timer from now on until SIGTERM */
	usleep(250 * 1000);

	test_daemon();
	test_waitsig();
	errno = 0;

	if (timerfd_gettime(fd, &cur)) {
		fail("timerfd_gettime");
		return 1;
	}
	if (cur.it_interval.tv_sec != 0 || cur.it_interval.tv_nsec != PERIOD_NS) {
		fail("the interval is %ld.%09ld, expected 0.%09ld", (long)cur.it_interval.tv_sec,
		     cur.it_interval.tv_nsec, PERIOD_NS);
		ret = 1;
	}
	if (cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0) {
		fail("the periodic timer is disarmed after restore");
		ret = 1;
	}
	n = ticks(fd);
	if (n < 2) {
		fail("%llu expirations, expected at least the 2 from before the checkpoint",
		     (unsigned long long)n);
		ret = 1;
	}
	test_msg("%llu expirations accumulated", (unsigned long long)n);
	usleep(550 * 1000);
	n = ticks(fd);
	if (n < 3 || n > 8) {
		fail("%llu expirations in 550 ms, expected about 5 (100 ms period)", (unsigned long long)n);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
