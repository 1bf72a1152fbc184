/*
 * alarm00: a pending alarm() with its remaining time, in two processes.
 * The test sets alarm(1000), a forked child alarm(3000); both have a
 * SIGALRM handler.  After restore, in each process:
 *  - ITIMER_REAL is armed without an interval, with a remaining time no
 *    larger than the initial one and no smaller than the initial one minus
 *    the time elapsed since alarm() (CLOCK_MONOTONIC) and a second;
 *  - the timer is running: 200 ms later it has gone down by 150..1000 ms;
 *  - alarm(0) returns the remaining seconds (rounded up) and disarms it;
 *  - SIGALRM was never delivered.
 */
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t fired;
static struct timespec t0;

static void on_alarm(int sig)
{
	(void)sig;
	fired = 1;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9;
}

static double remaining(void)
{
	struct itimerval it;

	if (getitimer(ITIMER_REAL, &it))
		return -1;
	if (it.it_interval.tv_sec || it.it_interval.tv_usec)
		return -2;
	return it.it_value.tv_sec + it.it_value.tv_usec / 1e6;
}

static int check(const char *who, unsigned int initial)
{
	double r1, r2, elapsed;
	unsigned int left;
	int ret = 0;

	elapsed = now();
	r1 = remaining();
	if (r1 == -2) {
		fail("%s: ITIMER_REAL got an interval", who);
		return 1;
	}
	if (r1 <= 0 || r1 > initial || r1 < initial - elapsed - 1) {
		fail("%s: %.3f s left of alarm(%u) set %.3f s ago", who, r1, initial, elapsed);
		return 1;
	}
	usleep(200000);
	r2 = remaining();
	if (r1 - r2 < 0.15 || r1 - r2 > 1.0) {
		fail("%s: the alarm is not running: %.3f s left, 200 ms later %.3f s", who, r1, r2);
		ret = 1;
	}
	left = alarm(0);
	if (left < (unsigned int)r2 || left > (unsigned int)r2 + 1) {
		fail("%s: alarm(0) returned %u with %.3f s left", who, left, r2);
		ret = 1;
	}
	if (remaining() != 0) {
		fail("%s: alarm(0) did not disarm the timer", who);
		ret = 1;
	}
	if (fired) {
		fail("%s: SIGALRM was delivered", who);
		ret = 1;
	}
	return ret;
}

static task_waiter_t tw;

static int child(void *arg)
{
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alarm(3000);
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	return check("child", 3000);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int ret, code;
	pid_t pid;

	test_init(argc, argv);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	if (task_waiter_init(&tw))
		return 1;
	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alarm(1000);
	task_wait(&tw, 1);

	test_daemon();
	test_waitsig();

	ret = check("test", 1000);
	task_complete(&tw, 2);
	code = wait_exit_code(pid);
	if (code) {
		fail("the child's alarm is wrong (exit code %d)", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
