/*
 * sigaction00: signal dispositions, the blocked mask and pending signals.
 *  - handlers with different flags/masks (SA_SIGINFO, SA_RESTART,
 *    SA_NODEFER, SA_ONSTACK, SA_RESETHAND), a SIG_IGN and a SIG_DFL;
 *  - blocked: SIGUSR1, SIGUSR2, SIGRTMIN+2;
 *  - pending: SIGUSR1 (thread-private, raise()), SIGUSR2 (process-wide,
 *    kill()), SIGRTMIN+2 queued twice with values (sigqueue()).
 * After restore: sigaction() of every signal, the mask and the pending set
 * are compared; then the signals are unblocked and must be delivered with
 * their siginfo (value, sender, order of the RT queue).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SA_MASK_FLAGS (SA_SIGINFO | SA_RESTART | SA_NODEFER | SA_ONSTACK | SA_RESETHAND | SA_NOCLDSTOP)

static volatile sig_atomic_t got_usr1, got_usr2, rt_count;
static volatile int rt_values[4], rt_codes[4];
static volatile pid_t rt_sender;

static void h_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void h_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code == SI_USER && si->si_pid == getpid())
		got_usr2++;
}

static void h_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (rt_count < 4) {
		rt_values[rt_count] = si->si_value.sival_int;
		rt_codes[rt_count] = si->si_code;
		rt_sender = si->si_pid;
		rt_count++;
	}
}

static void h_unused(int sig)
{
	(void)sig;
}

struct disp {
	int sig;
	void *handler; /* SIG_IGN / SIG_DFL or the function */
	int flags;
	int mask_sig; /* a signal in sa_mask, or 0 */
};

static struct disp disps[] = {
	{ SIGUSR1, h_usr1, SA_RESTART, SIGHUP },
	{ SIGUSR2, h_usr2, SA_SIGINFO | SA_NODEFER, 0 },
	{ 0 /* SIGRTMIN+2 */, h_rt, SA_SIGINFO | SA_RESTART, SIGUSR1 },
	{ SIGHUP, h_unused, SA_ONSTACK | SA_RESETHAND, SIGINT },
	{ SIGPIPE, SIG_IGN, 0, 0 },
	{ SIGWINCH, SIG_DFL, 0, 0 },
	{ SIGCHLD, h_unused, SA_NOCLDSTOP | SA_RESTART, SIGQUIT },
};

static int check_dispositions(void)
{
	struct sigaction sa;
	size_t i;
	int sig, ret = 0;

	for (i = 0; i < ARRAY_SIZE(disps); i++) {
		struct disp *d = &disps[i];
		void *h;

		if (sigaction(d->sig, NULL, &sa)) {
			fail("sigaction(%d)", d->sig);
			return 1;
		}
		h = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
		if (h != d->handler || (sa.sa_flags & SA_MASK_FLAGS) != d->flags) {
			fail("signal %d: handler %p flags %#x, expected %p %#x", d->sig, h,
			     sa.sa_flags & SA_MASK_FLAGS, d->handler, d->flags);
			ret = 1;
		}
		for (sig = 1; sig < SIGRTMAX; sig++) {
			if (sig == 32 || sig == 33) /* glibc internal */
				continue;
			if (!!sigismember(&sa.sa_mask, sig) != (sig == d->mask_sig)) {
				fail("signal %d: sa_mask differs at signal %d", d->sig, sig);
				ret = 1;
				break;
			}
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	sigset_t block, cur, pend;
	union sigval v;
	size_t i;
	int ret = 0, rt = SIGRTMIN + 2;

	test_init(argc, argv);

	disps[2].sig = rt;
	for (i = 0; i < ARRAY_SIZE(disps); i++) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		if (disps[i].flags & SA_SIGINFO)
			sa.sa_sigaction = disps[i].handler;
		else
			sa.sa_handler = disps[i].handler;
		sa.sa_flags = disps[i].flags;
		sigemptyset(&sa.sa_mask);
		if (disps[i].mask_sig)
			sigaddset(&sa.sa_mask, disps[i].mask_sig);
		if (sigaction(disps[i].sig, &sa, NULL)) {
			pr_perror("sigaction(%d)", disps[i].sig);
			return 1;
		}
	}

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, rt);
	if (sigprocmask(SIG_BLOCK, &block, NULL)) {
		pr_perror("sigprocmask");
		return 1;
	}
	raise(SIGUSR1);
	kill(getpid(), SIGUSR2);
	v.sival_int = 0x1234;
	sigqueue(getpid(), rt, v);
	v.sival_int = 0x5678;
	sigqueue(getpid(), rt, v);

	if (check_dispositions()) {
		pr_err("dispositions wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_dispositions();

	sigprocmask(SIG_BLOCK, NULL, &cur);
	for (i = 1; i < (size_t)SIGRTMAX; i++) {
		if (i == 32 || i == 33)
			continue;
		if (!!sigismember(&cur, i) != !!sigismember(&block, i)) {
			fail("blocked mask differs at signal %zu", i);
			ret = 1;
			break;
		}
	}
	sigpending(&pend);
	if (!sigismember(&pend, SIGUSR1) || !sigismember(&pend, SIGUSR2) || !sigismember(&pend, rt)) {
		fail("pending signals lost: USR1 %d USR2 %d RT %d", sigismember(&pend, SIGUSR1),
		     sigismember(&pend, SIGUSR2), sigismember(&pend, rt));
		ret = 1;
	}
	if (got_usr1 || got_usr2 || rt_count) {
		fail("blocked signals were delivered");
		ret = 1;
	}

	sigprocmask(SIG_UNBLOCK, &block, NULL);

	if (got_usr1 != 1 || got_usr2 != 1) {
		fail("SIGUSR1 delivered %d times, SIGUSR2 (SI_USER from self) %d times, expected 1, 1",
		     (int)got_usr1, (int)got_usr2);
		ret = 1;
	}
	if (rt_count != 2 || rt_values[0] != 0x1234 || rt_values[1] != 0x5678 ||
	    rt_codes[0] != SI_QUEUE || rt_codes[1] != SI_QUEUE || rt_sender != getpid()) {
		fail("RT signal queue: %d signals, values %#x %#x, codes %d %d, sender %d", (int)rt_count,
		     rt_values[0], rt_values[1], rt_codes[0], rt_codes[1], (int)rt_sender);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
