/*
 * sysv_sem_undo00: SEM_UNDO adjustments of System V semaphores survive
 * checkpoint/restore (flavors ns/uns: the set lives in the test's own ipc
 * namespace).
 *
 * Set S (key KEY_S, 3 semaphores, mode 0600) starts at 10 10 10.  Helper U
 * does semop(sem0 += 4, sem2 -= 3) with SEM_UNDO, so S is 14 10 7 and U's
 * undo list holds sem0 -4, sem2 +3; the test process itself does
 * semop(sem1 += 2) with SEM_UNDO (S: 14 12 7).  U then waits on a pipe.
 * After restore S must still be 14 12 7; then U is told to exit, and the
 * kernel must apply its undo list at exit: S becomes 10 12 10.  With the
 * undo list lost, S stays 14 12 7 and the test fails saying so.  (The test
 * process's own adjustment is applied only at its exit, where nothing
 * checks it: it is there so that both the tree's root and a child carry one.)
 *
 * noauto: CRIU 4.2 neither dumps nor detects SEM_UNDO lists (criu issue
 * #47, "Support undo semaphores (sysvipc)": they need kernel support to be
 * read and set).  The dump succeeds and the restored tasks silently have
 * no undo lists: after restore U's exit leaves S at 14 12 7.
 */
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#include "zdtmtst.h"

#define KEY_S 0x5a0e0101

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int id = -1;
static int u_pipe[2];

static int get_vals(unsigned short *v)
{
	union semun arg = { .array = v };

	return semctl(id, 0, GETALL, arg);
}

static int helper_u(void *arg)
{
	struct sembuf sb[2] = {
		{ .sem_num = 0, .sem_op = 4, .sem_flg = SEM_UNDO },
		{ .sem_num = 2, .sem_op = -3, .sem_flg = SEM_UNDO },
	};
	int *ready = arg;
	char c;

	close(u_pipe[1]);
	if (semop(id, sb, 2)) {
		pr_perror("helper U: semop with SEM_UNDO");
		return 1;
	}
	if (write(ready[1], "u", 1) != 1)
		return 1;
	/* exit when the test closes the pipe: the kernel applies the undo list */
	while (read(u_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return 0;
}

static int expect(const char *when, unsigned short a, unsigned short b, unsigned short c)
{
	unsigned short v[3];

	if (get_vals(v)) {
		fail("GETALL %s", when);
		return 1;
	}
	if (v[0] != a || v[1] != b || v[2] != c) {
		fail("%s: S is %u %u %u, expected %u %u %u", when, v[0], v[1], v[2], a, b, c);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned short init_vals[3] = { 10, 10, 10 };
	struct sembuf mine = { .sem_num = 1, .sem_op = 2, .sem_flg = SEM_UNDO };
	union semun arg = { .array = init_vals };
	int ready[2], ret = 0, code;
	pid_t u;
	char c;

	test_init(argc, argv);

	id = semget(KEY_S, 3, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0) {
		if (errno == ENOSYS)
			skip("no SysV IPC in this kernel");
		pr_perror("semget");
		return 1;
	}
	if (semctl(id, 0, SETALL, arg) || semop(id, &mine, 1)) {
		pr_perror("SETALL / semop with SEM_UNDO");
		goto err;
	}
	if (pipe(ready) || pipe(u_pipe)) {
		pr_perror("pipe");
		goto err;
	}
	u = test_fork_helper(helper_u, ready);
	if (u < 0) {
		pr_perror("fork");
		goto err;
	}
	close(u_pipe[0]);
	if (read(ready[0], &c, 1) != 1) {
		pr_err("helper U died before its semop");
		goto err;
	}
	if (expect("before the checkpoint", 14, 12, 7))
		goto err;

	test_daemon();
	test_waitsig();

	ret |= expect("after restore", 14, 12, 7);
	close(u_pipe[1]);
	code = wait_exit_code(u);
	if (code) {
		fail("helper U exited with %d", code);
		ret = 1;
	}
	if (expect("after helper U's exit", 10, 12, 10)) {
		fail("helper U's SEM_UNDO adjustments (sem0 -4, sem2 +3) were not applied at its exit: "
		     "its undo list was lost");
		ret = 1;
	}
	semctl(id, 0, IPC_RMID);
	if (!ret)
		pass();
	return ret;
err:
	semctl(id, 0, IPC_RMID);
	return 1;
}
