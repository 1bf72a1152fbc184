/*
 * itimer00: interval timers and a POSIX timer.
 *  ITIMER_REAL (value 1000 s, interval 1500 s), ITIMER_VIRTUAL (2000/2500 s),
 *  ITIMER_PROF (3000/3500 s) and a timer_create(CLOCK_MONOTONIC) timer
 *  signalling SIGRTMIN+1 with a sigev value (4000/4500 s).
 * After restore every timer must still be armed with the same interval and a
 * remaining time no larger than the initial value and no smaller than the
 * initial value minus the elapsed time (and a slack); none must have fired.
 */
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "zdtmtst.h"

static volatile sig_atomic_t fired;

static void handler(int sig)
{
	(void)sig;
	fired = sig;
}

static double tv2d(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static double ts2d(struct timespec ts)
{
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts2d(ts);
}

struct itimer_case {
	int which;
	const char *name;
	long value, interval;
};

static const struct itimer_case cases[] = {
	{ ITIMER_REAL, "ITIMER_REAL", 1000, 1500 },
	{ ITIMER_VIRTUAL, "ITIMER_VIRTUAL", 2000, 2500 },
	{ ITIMER_PROF, "ITIMER_PROF", 3000, 3500 },
};

#define PT_VALUE 4000
#define PT_INTERVAL 4500
#define SLACK 5.0 /* s: rounding, scheduling */
/* the kernel may round a value up to a tick: remaining <= initial + 50 ms */

static int check_remaining(const char *name, double remaining, double initial, double elapsed)
{
	if (remaining <= 0 || remaining > initial + 0.05 || remaining < initial - elapsed - SLACK) {
		fail("%s: %.6f s remaining, initial %.0f s, %.3f s elapsed", name, remaining, initial,
		     elapsed);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigevent sev;
	struct itimerspec its;
	struct sigaction sa;
	timer_t timer;
	size_t i;
	double start, elapsed;
	int ret = 0;

	test_init(argc, argv);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) || sigaction(SIGVTALRM, &sa, NULL) ||
	    sigaction(SIGPROF, &sa, NULL) || sigaction(SIGRTMIN + 1, &sa, NULL)) {
		pr_perror("sigaction");
		return 1;
	}

	start = now();
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct itimerval itv = {
			.it_value = { cases[i].value, 0 },
			.it_interval = { cases[i].interval, 0 },
		};

		if (setitimer(cases[i].which, &itv, NULL)) {
			pr_perror("setitimer(%s)", cases[i].name);
			return 1;
		}
	}

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN + 1;
	sev.sigev_value.sival_int = 0xabc;
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer)) {
		pr_perror("timer_create");
		return 1;
	}
	its.it_value.tv_sec = PT_VALUE;
	its.it_value.tv_nsec = 0;
	its.it_interval.tv_sec = PT_INTERVAL;
	its.it_interval.tv_nsec = 0;
	if (timer_settime(timer, 0, &its, NULL)) {
		pr_perror("timer_settime");
		return 1;
	}

	test_daemon();
	test_waitsig();

	elapsed = now() - start;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct itimerval itv;

		if (getitimer(cases[i].which, &itv)) {
			fail("getitimer(%s)", cases[i].name);
			return 1;
		}
		if (itv.it_interval.tv_sec != cases[i].interval || itv.it_interval.tv_usec != 0) {
			fail("%s: interval %.6f s, expected %ld s", cases[i].name, tv2d(itv.it_interval),
			     cases[i].interval);
			ret = 1;
		}
		ret |= check_remaining(cases[i].name, tv2d(itv.it_value), cases[i].value, elapsed);
	}

	if (timer_gettime(timer, &its)) {
		fail("timer_gettime");
		return 1;
	}
	if (its.it_interval.tv_sec != PT_INTERVAL || its.it_interval.tv_nsec != 0) {
		fail("POSIX timer: interval %.9f s, expected %d s", ts2d(its.it_interval), PT_INTERVAL);
		ret = 1;
	}
	ret |= check_remaining("POSIX timer", ts2d(its.it_value), PT_VALUE, elapsed);
	if (timer_getoverrun(timer) != 0) {
		fail("POSIX timer: overrun %d", timer_getoverrun(timer));
		ret = 1;
	}
	if (fired) {
		fail("a timer fired: signal %d", (int)fired);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
