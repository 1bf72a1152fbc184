/*
 * rlimits00: resource limits.  The test lowers several soft limits below
 * their hard limits and some hard limits too (an unprivileged process can
 * lower a hard limit, never raise it back); a forked child sets different
 * ones.  After restore every one of the RLIM_NLIMITS limits (soft and hard)
 * is compared with its value before the checkpoint, in both processes, and
 * RLIMIT_NOFILE is checked in action: dup2() onto the last allowed fd works,
 * onto the next one fails with EBADF.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "zdtmtst.h"

struct lim {
	int res;
	rlim_t soft, hard; /* RLIM_INFINITY for hard: keep the current one (capped by soft) */
};

static const struct lim test_lims[] = {
	{ RLIMIT_NOFILE, 321, 1000 },
	{ RLIMIT_CORE, 0, 1 << 20 },
	{ RLIMIT_STACK, 4 << 20, RLIM_INFINITY },
	{ RLIMIT_MSGQUEUE, 4096, 100000 },
	{ RLIMIT_SIGPENDING, 1000, RLIM_INFINITY },
	{ RLIMIT_MEMLOCK, 64 << 10, RLIM_INFINITY },
	{ RLIMIT_CPU, 100000, 200000 },
	{ RLIMIT_LOCKS, 1000, RLIM_INFINITY },
	{ RLIMIT_RTTIME, 1000000000, RLIM_INFINITY },
	{ RLIMIT_FSIZE, 1ULL << 34, RLIM_INFINITY },
};

static const struct lim child_lims[] = {
	{ RLIMIT_NOFILE, 123, 500 },
	{ RLIMIT_CORE, 4096, 4096 },
	{ RLIMIT_CPU, 50000, 60000 },
};

static struct rlimit saved[RLIM_NLIMITS];

static int apply(const struct lim *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct rlimit r;

		if (getrlimit(l[i].res, &r))
			return -1;
		if (l[i].hard != RLIM_INFINITY && (r.rlim_max == RLIM_INFINITY || l[i].hard < r.rlim_max))
			r.rlim_max = l[i].hard;
		r.rlim_cur = l[i].soft;
		if (r.rlim_max != RLIM_INFINITY && r.rlim_cur > r.rlim_max)
			r.rlim_cur = r.rlim_max;
		if (setrlimit(l[i].res, &r)) {
			pr_perror("setrlimit(%d)", l[i].res);
			return -1;
		}
	}
	for (i = 0; i < RLIM_NLIMITS; i++)
		if (getrlimit(i, &saved[i]))
			return -1;
	return 0;
}

static int check(const char *who)
{
	struct rlimit r, nf;
	int i, ret = 0;

	for (i = 0; i < RLIM_NLIMITS; i++) {
		if (getrlimit(i, &r)) {
			fail("%s: getrlimit(%d)", who, i);
			return 1;
		}
		if (r.rlim_cur != saved[i].rlim_cur || r.rlim_max != saved[i].rlim_max) {
			fail("%s: limit %d is %llu/%llu, expected %llu/%llu", who, i,
			     (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max,
			     (unsigned long long)saved[i].rlim_cur, (unsigned long long)saved[i].rlim_max);
			ret = 1;
		}
	}
	getrlimit(RLIMIT_NOFILE, &nf);
	if (dup2(0, nf.rlim_cur - 1) < 0) {
		fail("%s: dup2 onto fd %llu (the last allowed one) failed", who,
		     (unsigned long long)nf.rlim_cur - 1);
		ret = 1;
	}
	close(nf.rlim_cur - 1);
	if (dup2(0, nf.rlim_cur) >= 0 || errno != EBADF) {
		fail("%s: dup2 onto fd %llu (over RLIMIT_NOFILE) did not fail with EBADF", who,
		     (unsigned long long)nf.rlim_cur);
		ret = 1;
	}
	return ret;
}

static task_waiter_t tw;

static int child(void *arg)
{
	(void)arg;
	if (apply(child_lims, ARRAY_SIZE(child_lims)))
		return 2;
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	return check("child");
}

int main(int argc, char **argv)
{
	int ret, code;
	pid_t pid;

	test_init(argc, argv);

	if (apply(test_lims, ARRAY_SIZE(test_lims)) || task_waiter_init(&tw))
		return 1;
	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	task_wait(&tw, 1);

	test_daemon();
	test_waitsig();

	ret = check("test");
	task_complete(&tw, 2);
	code = wait_exit_code(pid);
	if (code) {
		fail("the child's limits changed (exit code %d)", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
