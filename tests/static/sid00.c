/*
 * sid00: sessions and process groups of a process tree.
 *   test (session leader, sid = pgid = test pid)
 *     +- A: setpgid(0, 0): its own process group in the test's session
 *     |   +- A1: a child of A, in A's process group
 *     +- B: stays in the test's process group
 *     +- C: setsid(): a session of its own
 * After restore the test checks everyone's sid/pgid from outside
 * (getsid/getpgid), then every helper checks its own sid, pgid and ppid
 * and reports through its exit code.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

enum { ROLE_A, ROLE_A1, ROLE_B, ROLE_C, NR_ROLES };
static const char *const names[NR_ROLES] = { "A", "A1", "B", "C" };

static task_waiter_t ready[NR_ROLES], go;

struct expect {
	pid_t pid, sid, pgid, ppid;
};
/* in MAP_SHARED memory: A fills in A1's entry */
static struct expect *exp_;

static int self_check(int role, pid_t sid, pid_t pgid, pid_t ppid)
{
	if (getsid(0) != sid || getpgid(0) != pgid || getppid() != ppid) {
		fail("%s: sid %d pgid %d ppid %d, expected sid %d pgid %d ppid %d", names[role],
		     (int)getsid(0), (int)getpgid(0), (int)getppid(), (int)sid, (int)pgid, (int)ppid);
		return 1;
	}
	return 0;
}

static int helper_wait_and_check(int role, pid_t sid, pid_t pgid, pid_t ppid)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (self_check(role, sid, pgid, ppid))
		return 1;
	task_complete(&ready[role], 1);
	task_wait(&go, 1);
	return self_check(role, sid, pgid, ppid);
}

static int run_a1(pid_t a)
{
	return helper_wait_and_check(ROLE_A1, zdtm_test_pid, a, a);
}

int main(int argc, char **argv)
{
	pid_t me, pid;
	int i, ret = 0, code;

	test_init(argc, argv);
	me = getpid();

	if (getsid(0) != me || getpgid(0) != me) {
		pr_err("the test is not a session leader (sid %d pgid %d)", (int)getsid(0), (int)getpgid(0));
		return 1;
	}
	for (i = 0; i < NR_ROLES; i++)
		if (task_waiter_init(&ready[i]))
			return 1;
	if (task_waiter_init(&go))
		return 1;
	exp_ = mmap(NULL, sizeof(*exp_) * NR_ROLES, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (exp_ == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}

	/* A (and its child A1) */
	pid = fork();
	if (pid == 0) {
		pid_t a = getpid(), c1;

		if (setpgid(0, 0)) {
			pr_perror("A: setpgid");
			_exit(1);
		}
		c1 = fork();
		if (c1 == 0)
			_exit(run_a1(a));
		if (c1 < 0) {
			pr_perror("A: fork");
			_exit(1);
		}
		exp_[ROLE_A1] = (struct expect){ c1, me, a, a };
		code = helper_wait_and_check(ROLE_A, me, a, me);
		if (wait_exit_code(c1) != 0) {
			fail("A1 failed");
			code = 1;
		}
		_exit(code);
	}
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	exp_[ROLE_A] = (struct expect){ pid, me, pid, me };
	task_wait(&ready[ROLE_A], 1);
	task_wait(&ready[ROLE_A1], 1);

	/* B */
	pid = fork();
	if (pid == 0)
		_exit(helper_wait_and_check(ROLE_B, me, me, me));
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	exp_[ROLE_B] = (struct expect){ pid, me, me, me };
	task_wait(&ready[ROLE_B], 1);

	/* C */
	pid = fork();
	if (pid == 0) {
		pid_t c = setsid();

		if (c < 0) {
			pr_perror("C: setsid");
			_exit(1);
		}
		_exit(helper_wait_and_check(ROLE_C, c, c, me));
	}
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	exp_[ROLE_C] = (struct expect){ pid, pid, pid, me };
	task_wait(&ready[ROLE_C], 1);

	test_daemon();
	test_waitsig();

	if (getsid(0) != me || getpgid(0) != me) {
		fail("test: sid %d pgid %d, expected %d", (int)getsid(0), (int)getpgid(0), (int)me);
		ret = 1;
	}
	for (i = 0; i < NR_ROLES; i++) {
		struct expect *e = &exp_[i];

		if (!e->pid)
			continue;
		if (getsid(e->pid) != e->sid || getpgid(e->pid) != e->pgid) {
			fail("%s (%d): sid %d pgid %d, expected sid %d pgid %d", names[i], (int)e->pid,
			     (int)getsid(e->pid), (int)getpgid(e->pid), (int)e->sid, (int)e->pgid);
			ret = 1;
		}
	}

	task_complete(&go, 1);
	for (i = 0; i < NR_ROLES; i++) {
		if (!exp_[i].pid || i == ROLE_A1) /* A1 is A's child: A reports it */
			continue;
		code = wait_exit_code(exp_[i].pid);
		if (code != 0) {
			fail("helper %s (%d) failed: exit code %d", names[i], (int)exp_[i].pid, code);
			ret = 1;
		}
	}
	if (!ret)
		pass();
	return ret;
}
