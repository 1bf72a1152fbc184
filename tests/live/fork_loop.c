/*
 * fork_loop: the test keeps forking short-lived children and reaping them
 * while it is checkpointed and restored.
 *
 * Up to MAX_INFLIGHT children exist at any time, so a dump catches some
 * running, some exited and not yet reaped (zombies), some just forked.
 * Child number n:
 *   - checks a datagen buffer inherited from the test (copy-on-write memory),
 *   - marks its slot in a MAP_SHARED table (n -> its pid),
 *   - burns a little CPU (n-dependent), sometimes sleeps a bit,
 *   - ends with exit code n % 100 (codes >= 128 are not restored correctly
 *     by criu 4.2.1, see static/py_zombie_status), or every 7th child is
 *     killed by SIGUSR1 / every 11th by SIGKILL (sent by itself).
 * The test reaps with waitpid(-1) and checks each status against what that
 * pid (looked up in its own table) had to end with.
 *
 * After SIGTERM: no more forks; every remaining child is reaped; then
 * checks: forked == reaped, no status mismatch, every child marked its slot
 * with its own pid, no children left (ECHILD), the buffer is still intact,
 * and the loop did go round (at least a few children).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define MAX_INFLIGHT 8
#define MAX_CHILDREN (1 << 20)
#define BUF_LEN (256 * 1024)

struct kid {
	pid_t pid;
	uint32_t n;
};

static struct kid inflight[MAX_INFLIGHT];
static int ninflight;
static uint8_t inherited[BUF_LEN];
static uint32_t inherited_crc = ~0u;

static int expected_status(uint32_t n, int *is_signal)
{
	*is_signal = 1;
	if (n % 7 == 3)
		return SIGUSR1;
	if (n % 11 == 5)
		return SIGKILL;
	*is_signal = 0;
	return n % 100;
}

static void child(uint32_t n, volatile pid_t *table)
{
	uint32_t crc = ~0u;
	volatile uint64_t x = n;
	int is_sig, st, i;

	if (datachk(inherited, BUF_LEN, &crc))
		_exit(200); /* never an expected status */
	table[n] = getpid();
	for (i = 0; i < (int)(n % 64) * 1000; i++)
		x = live_mix64(x);
	if (n % 5 == 0) {
		struct timespec ts = { 0, (n % 3) * 1000000L };
		nanosleep(&ts, NULL);
	}
	st = expected_status(n, &is_sig);
	if (is_sig) {
		signal(st, SIG_DFL);
		kill(getpid(), st);
		pause();
	}
	_exit(st);
}

static int reap_one(int flags, uint64_t *reaped, uint64_t *bad)
{
	int status, is_sig, want, i;
	pid_t pid;

	pid = waitpid(-1, &status, flags);
	if (pid < 0) {
		if (errno == EINTR)
			return 0;
		return -1;
	}
	if (pid == 0)
		return 0;
	for (i = 0; i < ninflight; i++)
		if (inflight[i].pid == pid)
			break;
	if (i == ninflight) {
		fail("reaped pid %d which is not one of our children", pid);
		(*bad)++;
		return 1;
	}
	want = expected_status(inflight[i].n, &is_sig);
	if (is_sig ? !(WIFSIGNALED(status) && WTERMSIG(status) == want)
		   : !(WIFEXITED(status) && WEXITSTATUS(status) == want)) {
		fail("child #%u (pid %d) ended with status %#x, expected %s %d", inflight[i].n, pid,
		     status, is_sig ? "signal" : "exit code", want);
		(*bad)++;
	}
	inflight[i] = inflight[--ninflight];
	(*reaped)++;
	return 1;
}

int main(int argc, char **argv)
{
	volatile pid_t *table;
	uint64_t forked = 0, reaped = 0, bad = 0, unmarked = 0;
	int ready = 0;
	uint32_t crc = ~0u;
	pid_t pid;
	uint64_t i;

	test_init(argc, argv);

	datagen(inherited, BUF_LEN, &inherited_crc);
	table = live_shared(MAX_CHILDREN * sizeof(pid_t));
	if (!table) {
		pr_perror("mmap");
		return 1;
	}

	/* start the activity before readiness: the dump happens in the middle of it */
	for (;;) {
		while (ninflight < MAX_INFLIGHT && forked < MAX_CHILDREN) {
			pid = fork();
			if (pid < 0) {
				pr_perror("fork #%llu", (unsigned long long)forked);
				return 1;
			}
			if (pid == 0)
				child((uint32_t)forked, table);
			inflight[ninflight].pid = pid;
			inflight[ninflight].n = (uint32_t)forked;
			ninflight++;
			forked++;
		}
		if (!ready && forked >= MAX_INFLIGHT * 4) {
			test_daemon();
			ready = 1;
		}
		if (ready && !test_go())
			break;
		if (forked >= MAX_CHILDREN) {
			test_msg("reached %d children, waiting for SIGTERM", MAX_CHILDREN);
			break;
		}
		if (reap_one(0, &reaped, &bad) < 0) {
			pr_perror("waitpid");
			return 1;
		}
	}

	/* reap the rest */
	while (ninflight > 0) {
		if (reap_one(0, &reaped, &bad) < 0) {
			pr_perror("waitpid with %d children in flight", ninflight);
			return 1;
		}
	}
	test_waitsig(); /* at once, unless the table ran full before SIGTERM */
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
		fail("children left after reaping all %llu", (unsigned long long)forked);
		bad++;
	}
	for (i = 0; i < forked; i++)
		if (table[i] == 0)
			unmarked++;
	test_msg("%llu children forked and reaped, %llu bad statuses, %llu unmarked slots",
		 (unsigned long long)forked, (unsigned long long)bad, (unsigned long long)unmarked);
	if (reaped != forked) {
		fail("forked %llu children, reaped %llu", (unsigned long long)forked, (unsigned long long)reaped);
		bad++;
	}
	if (unmarked) {
		fail("%llu children did not leave their mark in the shared table", (unsigned long long)unmarked);
		bad++;
	}
	if (datachk(inherited, BUF_LEN, &crc)) {
		fail("the test's buffer is corrupted");
		bad++;
	}
	if (!bad)
		pass();
	return bad ? 1 : 0;
}
