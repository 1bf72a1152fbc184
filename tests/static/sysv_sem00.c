/*
 * sysv_sem00: System V semaphore sets in the test's own ipc namespace
 * (flavors ns/uns only: criu dumps SysV IPC as part of an ipc namespace).
 *
 * Set S (key KEY_S, 4 semaphores, mode 0660) holds 3 10 0 32000 (SETALL,
 * then sem1 += 5 and sem3 -= 7 by semop without SEM_UNDO: 3 15 0 31993);
 * set P (IPC_PRIVATE, 1 semaphore, mode 0600) holds 7.  Before the
 * checkpoint two helpers block in semop on S:
 *  - helper N in semop(sem2 -= 1) (sem2 is 0): semncnt(2) is 1;
 *  - helper Z in semop(wait for sem0 == 0) (sem0 is 3): semzcnt(0) is 1.
 * After restore:
 *  - both sets: the key still finds the same id, IPC_STAT gives the same
 *    number of semaphores, mode, owner uid/gid; the values are exactly
 *    3 15 0 31993 and 7;
 *  - N and Z are still waiting (GETNCNT(2) == 1, GETZCNT(0) == 1; polled
 *    for a while, since criu restarts their semop);
 *  - sem2 += 1 wakes N (which takes it: sem2 back to 0) and sem0 -= 3
 *    wakes Z; both must then exit 0, and S is 0 15 0 31993.
 * SEM_UNDO adjustments are in sysv_sem_undo00 (noauto: criu loses them).
 */
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define KEY_S 0x5a0e0001
#define NSEMS 4

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int ids[2] = { -1, -1 };

static int semop1(int id, unsigned short num, short op)
{
	struct sembuf sb = { .sem_num = num, .sem_op = op };
	int r;

	do
		r = semop(id, &sb, 1);
	while (r < 0 && errno == EINTR);
	return r;
}

static int helper_n(void *arg)
{
	(void)arg;
	if (semop1(ids[0], 2, -1)) {
		pr_perror("helper N: semop(sem2 -= 1)");
		return 1;
	}
	return 0;
}

static int helper_z(void *arg)
{
	(void)arg;
	if (semop1(ids[0], 0, 0)) {
		pr_perror("helper Z: semop(wait for sem0 == 0)");
		return 1;
	}
	return 0;
}

/* poll semctl(cmd) on sem num until it is want (max ~5 s); returns the last value */
static int wait_cnt(int num, int cmd, int want)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i, v = -1;

	for (i = 0; i < 500; i++) {
		v = semctl(ids[0], num, cmd);
		if (v == want || v < 0)
			break;
		nanosleep(&ts, NULL);
	}
	return v;
}

static int check_set(int idx, key_t key, int nsems, unsigned int mode, const unsigned short *vals)
{
	unsigned short got[NSEMS];
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	int i, id;

	if (key != IPC_PRIVATE) {
		id = semget(key, 0, 0);
		if (id != ids[idx]) {
			fail("set %d: semget(key %#x) gives %d, expected id %d", idx, key, id, ids[idx]);
			return 1;
		}
	}
	if (semctl(ids[idx], 0, IPC_STAT, arg)) {
		fail("set %d: IPC_STAT of id %d", idx, ids[idx]);
		return 1;
	}
	if (ds.sem_perm.__key != key || (int)ds.sem_nsems != nsems || (ds.sem_perm.mode & 0777) != mode ||
	    ds.sem_perm.uid != geteuid() || ds.sem_perm.gid != getegid()) {
		fail("set %d: key %#x nsems %lu mode %o uid %d gid %d; expected %#x %d %o %d %d", idx,
		     ds.sem_perm.__key, (unsigned long)ds.sem_nsems, ds.sem_perm.mode & 0777,
		     (int)ds.sem_perm.uid, (int)ds.sem_perm.gid, key, nsems, mode, (int)geteuid(),
		     (int)getegid());
		return 1;
	}
	arg.array = got;
	if (semctl(ids[idx], 0, GETALL, arg)) {
		fail("set %d: GETALL", idx);
		return 1;
	}
	for (i = 0; i < nsems; i++)
		if (got[i] != vals[i]) {
			fail("set %d: semaphore %d is %u, expected %u", idx, i, got[i], vals[i]);
			return 1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned short init_vals[NSEMS] = { 3, 10, 0, 32000 };
	static const unsigned short dump_vals[NSEMS] = { 3, 15, 0, 31993 };
	static const unsigned short final_vals[NSEMS] = { 0, 15, 0, 31993 };
	static const unsigned short p_vals[1] = { 7 };
	union semun arg;
	pid_t n, z;
	int v, ret = 0, code;

	test_init(argc, argv);

	ids[0] = semget(KEY_S, NSEMS, IPC_CREAT | IPC_EXCL | 0660);
	if (ids[0] < 0) {
		if (errno == ENOSYS)
			skip("no SysV IPC in this kernel");
		pr_perror("semget S");
		return 1;
	}
	ids[1] = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (ids[1] < 0) {
		pr_perror("semget P");
		goto err;
	}
	arg.array = (unsigned short *)init_vals;
	if (semctl(ids[0], 0, SETALL, arg)) {
		pr_perror("SETALL");
		goto err;
	}
	arg.val = 7;
	if (semctl(ids[1], 0, SETVAL, arg)) {
		pr_perror("SETVAL");
		goto err;
	}
	if (semop1(ids[0], 1, 5) || semop1(ids[0], 3, -7)) {
		pr_perror("semop");
		goto err;
	}

	n = test_fork_helper(helper_n, NULL);
	z = test_fork_helper(helper_z, NULL);
	if (n < 0 || z < 0) {
		pr_perror("fork");
		goto err;
	}
	if (wait_cnt(2, GETNCNT, 1) != 1 || wait_cnt(0, GETZCNT, 1) != 1) {
		pr_err("helpers N and Z did not block in semop");
		goto err;
	}
	if (check_set(0, KEY_S, NSEMS, 0660, dump_vals))
		goto err;

	test_daemon();
	test_waitsig();

	ret |= check_set(0, KEY_S, NSEMS, 0660, dump_vals);
	ret |= check_set(1, IPC_PRIVATE, 1, 0600, p_vals);

	v = wait_cnt(2, GETNCNT, 1);
	if (v != 1) {
		fail("GETNCNT(2) is %d: helper N no longer waits for sem2", v);
		ret = 1;
	}
	v = wait_cnt(0, GETZCNT, 1);
	if (v != 1) {
		fail("GETZCNT(0) is %d: helper Z no longer waits for sem0 == 0", v);
		ret = 1;
	}

	if (semop1(ids[0], 2, 1) || semop1(ids[0], 0, -3)) {
		fail("semop waking the helpers");
		ret = 1;
	}
	code = wait_exit_code(n);
	if (code) {
		fail("helper N exited with %d", code);
		ret = 1;
	}
	code = wait_exit_code(z);
	if (code) {
		fail("helper Z exited with %d", code);
		ret = 1;
	}
	ret |= check_set(0, KEY_S, NSEMS, 0660, final_vals);

	semctl(ids[0], 0, IPC_RMID);
	semctl(ids[1], 0, IPC_RMID);
	if (!ret)
		pass();
	return ret;
err:
	/* the helpers fail with EIDRM once the sets are gone */
	if (ids[0] >= 0)
		semctl(ids[0], 0, IPC_RMID);
	if (ids[1] >= 0)
		semctl(ids[1], 0, IPC_RMID);
	return 1;
}
