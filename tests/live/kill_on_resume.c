/*
 * kill_on_resume: a restored task kills another restored task the moment it
 * runs again.
 *
 * NOAUTO: criu 4.2.1's restore then fails now and then, after the tree was
 * restored and the pidfile written: "Unable to detach <pid>: No such
 * process", "Killing processes because of failure on restore".  criu lets
 * the tasks go one by one at the end of the restore (PTRACE_DETACH); a task
 * released first can kill one that criu has not released yet, and criu
 * treats the ESRCH from that task's detach as a failure of the whole
 * restore (and kills the tree) instead of accepting that a restored task
 * died.  Found with live/py_fork_loop, whose parent killed its children
 * itself (it no longer does).
 *
 * The test forks NCHILD children that just wait, then spins reading
 * CLOCK_REALTIME (not virtualised by a time namespace): a jump of more than
 * 20 ms between two readings means it was frozen and has just been
 * restored, and it kills its youngest child with SIGKILL at once (criu
 * releases the tree root first and the children in order, so the many
 * children before the victim widen the window).  At SIGTERM it checks that
 * the victim was killed after a resume and reaped with SIGKILL, and that
 * the other children are alive (then kills and reaps them).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define NCHILD 64

int main(int argc, char **argv)
{
	pid_t kids[NCHILD], victim;
	double prev, t;
	int status, killed = 0, ready = 0, i, ret = 0;
	uint64_t loops = 0;

	test_init(argc, argv);

	for (i = 0; i < NCHILD; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			pr_perror("fork");
			return 1;
		}
		if (kids[i] == 0) {
			for (;;)
				pause();
		}
	}
	victim = kids[NCHILD - 1];

	prev = now();
	for (;;) {
		t = now();
		if (t - prev > 0.020 && ready && !killed) {
			kill(victim, SIGKILL);
			killed = 1;
			test_msg("resumed after %.3f s: child %d killed", t - prev, victim);
		}
		prev = t;
		if (!ready && ++loops > 1000) {
			test_daemon();
			ready = 1;
			prev = now();
		}
		if (ready && !test_go())
			break;
	}
	if (!killed) {
		test_msg("no resume seen: killing the child now");
		kill(victim, SIGKILL);
	}
	if (waitpid(victim, &status, 0) != victim || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		fail("the victim ended with status %#x, expected SIGKILL", status);
		ret = 1;
	}
	for (i = 0; i < NCHILD - 1; i++) {
		if (waitpid(kids[i], &status, WNOHANG) != 0) {
			fail("child %d is gone", kids[i]);
			ret = 1;
		}
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	if (!ret)
		pass();
	return ret;
}
