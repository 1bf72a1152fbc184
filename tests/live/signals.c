/*
 * signals: a helper keeps sending signals to the test while both are
 * checkpointed and restored; every signal must be accounted for.
 *
 * Three streams from the helper to the test:
 *   - SIGRTMIN+1 via sigqueue() carrying a sequence number: real-time
 *     signals queue, so the handler must see 0, 1, 2, ... with no gap,
 *     duplicate or reordering; the helper keeps at most WINDOW of them
 *     unacknowledged (an ack counter in shared memory), so the queue never
 *     overflows but often holds several at dump time;
 *   - SIGUSR1 ping-pong: the helper sends one and waits until the test's
 *     handler has counted it before sending the next - exactly as many
 *     handled as sent;
 *   - SIGUSR2 bursts: standard signals coalesce, so only bounds hold: at
 *     least one handled per burst that the helper saw acknowledged, never
 *     more than were sent.
 * The test blocks and unblocks SIGRTMIN+1 around its own work now and then
 * so signals also pile up as pending while blocked.
 *
 * At SIGTERM the test tells the helper to stop; the helper reports what it
 * sent; the test waits (bounded) until everything sent has been handled,
 * then checks the counts, the order of the RT sequence numbers, the si_pid
 * and si_code of the queued signals, and that each stream made progress.
 */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define WINDOW 16

struct shared {
	volatile int stop;
	volatile uint64_t rt_sent, usr1_sent, usr2_sent, usr2_bursts;
	volatile uint64_t rt_acked, usr1_acked, usr2_handled;
	volatile int helper_done;
};

static struct shared *sh;
static volatile uint64_t rt_next, rt_errors, usr1_handled, wrong_sender;
static volatile int first_bad_seq = -1;
/* the first RT signal with an unexpected sender: what it carried */
static volatile int bad_code, bad_pid, bad_uid, bad_seq = -1;
static pid_t helper_pid;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_QUEUE || si->si_pid != helper_pid) {
		if (!wrong_sender) {
			bad_code = si->si_code;
			bad_pid = si->si_pid;
			bad_uid = si->si_uid;
			bad_seq = (int)(uint64_t)si->si_value.sival_ptr;
		}
		wrong_sender++;
	}
	if ((uint64_t)si->si_value.sival_ptr != rt_next) {
		if (first_bad_seq < 0)
			first_bad_seq = (int)(uint64_t)si->si_value.sival_ptr;
		rt_errors++;
	}
	rt_next = (uint64_t)si->si_value.sival_ptr + 1;
	__atomic_store_n(&sh->rt_acked, rt_next, __ATOMIC_SEQ_CST);
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_handled++;
	__atomic_store_n(&sh->usr1_acked, usr1_handled, __ATOMIC_SEQ_CST);
}

static void on_usr2(int sig)
{
	(void)sig;
	__atomic_add_fetch(&sh->usr2_handled, 1, __ATOMIC_SEQ_CST);
}

static void spin_until(volatile uint64_t *v, uint64_t want)
{
	while (__atomic_load_n(v, __ATOMIC_SEQ_CST) < want && !sh->stop)
		sched_yield();
}

static int helper(pid_t test)
{
	union sigval val;
	uint64_t i, n = 0;

	while (!sh->stop) {
		/* RT: keep the window full */
		while (sh->rt_sent < sh->rt_acked + WINDOW && !sh->stop) {
			val.sival_ptr = (void *)(uintptr_t)sh->rt_sent;
			if (sigqueue(test, SIGRTMIN + 1, val)) {
				if (errno == EAGAIN)
					break;
				return 1;
			}
			sh->rt_sent++;
		}
		/* USR1: one in flight at a time */
		if (sh->usr1_acked == sh->usr1_sent) {
			if (kill(test, SIGUSR1))
				return 2;
			sh->usr1_sent++;
		}
		/* USR2: a burst now and then, then wait for at least one to land */
		if (++n % 64 == 0) {
			uint64_t before = sh->usr2_handled;

			for (i = 0; i < 5; i++) {
				if (kill(test, SIGUSR2))
					return 3;
				sh->usr2_sent++;
			}
			sh->usr2_bursts++;
			spin_until(&sh->usr2_handled, before + 1);
		}
		sched_yield();
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t rt, all3;
	struct timespec t0, now;
	uint64_t loops = 0;
	int status, ret = 0, ready = 0;

	test_init(argc, argv);

	sh = live_shared(sizeof(*sh));
	if (!sh) {
		pr_perror("mmap");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sa.sa_sigaction = on_rt;
	if (sigaction(SIGRTMIN + 1, &sa, NULL))
		goto err;
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL))
		goto err;
	sa.sa_handler = on_usr2;
	if (sigaction(SIGUSR2, &sa, NULL))
		goto err;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	sigemptyset(&all3);
	sigaddset(&all3, SIGRTMIN + 1);
	sigaddset(&all3, SIGUSR1);
	sigaddset(&all3, SIGUSR2);

	/*
	 * The helper starts sending at once: keep its signals blocked until
	 * helper_pid is set, or the first ones would be judged against 0
	 * (seen under load: "16 RT signals with a wrong si_pid", all from it).
	 */
	if (sigprocmask(SIG_BLOCK, &all3, NULL))
		goto err;
	helper_pid = fork();
	if (helper_pid < 0)
		goto err;
	if (helper_pid == 0) {
		signal(SIGRTMIN + 1, SIG_DFL);
		signal(SIGUSR1, SIG_DFL);
		signal(SIGUSR2, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &all3, NULL);
		_exit(helper(getppid()));
	}
	if (sigprocmask(SIG_UNBLOCK, &all3, NULL))
		goto err;

	for (;;) {
		volatile uint64_t x = loops;
		int k;

		/* some work with the RT signal blocked: they pile up as pending */
		if (loops % 4 == 0)
			sigprocmask(SIG_BLOCK, &rt, NULL);
		for (k = 0; k < 2000; k++)
			x = live_mix64(x);
		if (loops % 4 == 0)
			sigprocmask(SIG_UNBLOCK, &rt, NULL);
		loops++;
		if (!ready && sh->rt_acked > 4 * WINDOW && usr1_handled > 8 && sh->usr2_bursts > 2) {
			test_daemon();
			ready = 1;
		}
		if (ready && !test_go())
			break;
	}

	sh->stop = 1;
	if (waitpid(helper_pid, &status, 0) != helper_pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("the helper ended with status %#x", status);
		return 1;
	}
	/* everything sent must be handled: wait for the stragglers (bounded) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (rt_next == sh->rt_sent && usr1_handled == sh->usr1_sent)
			break;
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 5);

	test_msg("RT: %llu sent, %llu handled; USR1: %llu sent, %llu handled; USR2: %llu sent in %llu bursts, %llu handled",
		 (unsigned long long)sh->rt_sent, (unsigned long long)rt_next, (unsigned long long)sh->usr1_sent,
		 (unsigned long long)usr1_handled, (unsigned long long)sh->usr2_sent,
		 (unsigned long long)sh->usr2_bursts, (unsigned long long)sh->usr2_handled);
	if (rt_errors) {
		fail("RT signals out of order: %llu times, first unexpected sequence number %d",
		     (unsigned long long)rt_errors, first_bad_seq);
		ret = 1;
	}
	if (rt_next != sh->rt_sent) {
		fail("RT signals: %llu sent, the last one handled was %llu", (unsigned long long)sh->rt_sent,
		     (unsigned long long)rt_next);
		ret = 1;
	}
	if (wrong_sender) {
		fail("%llu RT signals with a wrong si_code/si_pid; the first (sequence number %d): si_code %d "
		     "si_pid %d si_uid %d, expected si_code %d (SI_QUEUE) si_pid %d", (unsigned long long)wrong_sender,
		     bad_seq, bad_code, bad_pid, bad_uid, SI_QUEUE, (int)helper_pid);
		ret = 1;
	}
	if (usr1_handled != sh->usr1_sent) {
		fail("SIGUSR1: %llu sent one at a time, %llu handled", (unsigned long long)sh->usr1_sent,
		     (unsigned long long)usr1_handled);
		ret = 1;
	}
	if (sh->usr2_handled > sh->usr2_sent || sh->usr2_handled < sh->usr2_bursts) {
		fail("SIGUSR2: %llu handled for %llu sent in %llu bursts", (unsigned long long)sh->usr2_handled,
		     (unsigned long long)sh->usr2_sent, (unsigned long long)sh->usr2_bursts);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
err:
	pr_perror("setup");
	return 1;
}
