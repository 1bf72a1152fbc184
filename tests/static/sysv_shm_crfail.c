/*
 * sysv_shm_crfail: a System V shared memory segment (shmget + shmat) filled
 * with data, in the host's ipc namespace.  criu dumps and restores SysV
 * IPC objects only as part of an ipc namespace it dumps; a task attached
 * to a segment of an ipc namespace it does not own must be refused (host
 * flavor only: in ns/uns the namespace is dumped and this would work).
 * After the refused dump the test checks the segment is as it was: still
 * attached at the same address with its data (CRC), shmctl(IPC_STAT) still
 * gives its size, mode, our pid as the creator and one attach, and a second
 * shmat() sees the same memory.
 *
 * The segment is marked for removal (IPC_RMID) right after the first
 * shmat(): it lives on while attached and the kernel destroys it with the
 * last detach, so nothing is left behind however the test ends (even when
 * it is killed).  criu refuses such a segment just the same.
 */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SEG_SIZE (5 * 4096 + 100)


int main(int argc, char **argv)
{
	struct shmid_ds ds;
	unsigned char *p, *q;
	uint32_t crc = ~0u;
	int id, ret = 0;

	test_init(argc, argv);

	id = shmget(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | 0600);
	if (id < 0) {
		if (errno == ENOSYS)
			skip("no SysV IPC in this kernel");
		pr_perror("shmget");
		return 1;
	}
	p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		pr_perror("shmat");
		shmctl(id, IPC_RMID, NULL);
		return 1;
	}
	if (shmctl(id, IPC_RMID, NULL)) {
		pr_perror("IPC_RMID");
		return 1;
	}
	datagen(p, SEG_SIZE, &crc);

	test_daemon();
	test_waitsig();
	errno = 0;

	crc = ~0u;
	if (datachk(p, SEG_SIZE, &crc)) {
		fail("the segment's data changed");
		ret = 1;
	}
	if (shmctl(id, IPC_STAT, &ds)) {
		fail("shmctl(IPC_STAT): the segment is gone");
		return 1;
	}
	if (ds.shm_segsz != SEG_SIZE || (ds.shm_perm.mode & 0777) != 0600 || !(ds.shm_perm.mode & SHM_DEST) ||
	    ds.shm_cpid != getpid() || ds.shm_nattch != 1) {
		fail("IPC_STAT: size %zu mode %o creator %d attaches %lu, expected %d 600 (+SHM_DEST) %d 1",
		     (size_t)ds.shm_segsz, ds.shm_perm.mode & 0777, ds.shm_cpid, (unsigned long)ds.shm_nattch,
		     SEG_SIZE, getpid());
		ret = 1;
	}
	q = shmat(id, NULL, 0);
	if (q == (void *)-1) {
		fail("second shmat");
		return 1;
	}
	q[0] ^= 0xff;
	if (p[0] != (unsigned char)~q[0] && p[0] != q[0]) {
		fail("the two attaches are not the same memory");
		ret = 1;
	} else if (p[0] != q[0]) {
		fail("the first attach is no longer the segment");
		ret = 1;
	}
	shmdt(q);
	if (!ret)
		pass();
	return ret;
}
