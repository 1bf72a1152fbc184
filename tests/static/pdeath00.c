/*
 * pdeath00: the parent-death signal (PR_SET_PDEATHSIG).
 * The test forks a middle child (pdeathsig SIGHUP, ignored there) which forks
 * a leaf (pdeathsig SIGUSR2, with a handler).  After restore both report
 * PR_GET_PDEATHSIG through shared memory; then the test kills the middle
 * child and the leaf must receive SIGUSR2 because its parent died (the
 * handler records the signal and the sender, which must be the dead middle
 * child).  The test is a
 * subreaper only after the restore, so the orphaned leaf comes back to it.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

struct shared {
	int middle_sig;		/* PR_GET_PDEATHSIG in the middle child after restore */
	int leaf_sig;		/* ... in the leaf */
	volatile int leaf_got;	/* the signal the leaf received */
	volatile pid_t leaf_from;	/* ... and its si_pid */
	pid_t leaf;
};

static struct shared *sh;
static task_waiter_t twm, twl; /* the middle child, the leaf: 1 ready, 2 check, 3 checked */

static void leaf_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	sh->leaf_from = si->si_pid;
	sh->leaf_got = sig;
}

static int leaf(void)
{
	struct sigaction sa;
	sigset_t usr2, old;
	int s = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = leaf_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR2, &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2))
		return 1;
	task_complete(&twl, 1);
	task_wait(&twl, 2);
	prctl(PR_GET_PDEATHSIG, &s);
	sh->leaf_sig = s;
	task_complete(&twl, 3);
	/*
	 * wait for the signal that says our parent died: blocked around the
	 * check, or it may land between the check and pause() and be lost
	 * (sigsuspend() unblocks and sleeps atomically); blocked only now,
	 * so the mask at checkpoint time is untouched
	 */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, &old);
	sigdelset(&old, SIGUSR2);
	while (!sh->leaf_got)
		sigsuspend(&old);
	return 0;
}

static int middle(void)
{
	pid_t pid;
	int s = -1;

	signal(SIGHUP, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGHUP))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(leaf());
	sh->leaf = pid;
	task_complete(&twm, 1);
	task_wait(&twm, 2);
	prctl(PR_GET_PDEATHSIG, &s);
	sh->middle_sig = s;
	task_complete(&twm, 3);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct timespec t0, t;
	pid_t mid, p;
	int ret = 0, st;

	test_init(argc, argv);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || task_waiter_init(&twm) || task_waiter_init(&twl)) {
		pr_perror("shared memory");
		return 1;
	}
	mid = fork();
	if (mid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (mid == 0)
		_exit(middle());
	task_wait(&twm, 1);
	task_wait(&twl, 1);

	test_daemon();
	test_waitsig();

	sh->leaf_sig = sh->middle_sig = -1;
	task_complete(&twl, 2);
	task_wait(&twl, 3);
	task_complete(&twm, 2);
	task_wait(&twm, 3);
	if (sh->middle_sig != SIGHUP) {
		fail("middle child: PR_GET_PDEATHSIG = %d, expected SIGHUP (%d)", sh->middle_sig, SIGHUP);
		ret = 1;
	}
	if (sh->leaf_sig != SIGUSR2) {
		fail("leaf: PR_GET_PDEATHSIG = %d, expected SIGUSR2 (%d)", sh->leaf_sig, SIGUSR2);
		ret = 1;
	}

	/* the orphaned leaf is reparented to us, so that we can reap it */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		pr_perror("PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	kill(mid, SIGKILL);
	if (wait_exit_code(mid) != 128 + SIGKILL) {
		fail("the middle child did not die of SIGKILL");
		ret = 1;
	}
	/* the leaf gets its parent-death signal */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!sh->leaf_got) {
		usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			break;
	}
	if (sh->leaf_got != SIGUSR2) {
		fail("the leaf did not get SIGUSR2 when its parent died (got %d)", sh->leaf_got);
		ret = 1;
		kill(sh->leaf, SIGKILL);
	} else if (sh->leaf_from != mid) {
		fail("the leaf got SIGUSR2 from %d, expected its dead parent %d", (int)sh->leaf_from, (int)mid);
		ret = 1;
	}
	p = waitpid(sh->leaf, &st, 0);
	if (p != sh->leaf) {
		fail("the orphaned leaf %d was not reparented to the test (waitpid: %d)", (int)sh->leaf, (int)p);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
