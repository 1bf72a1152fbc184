/*
 * sysv_shm00: System V shared memory in the test's own ipc namespace
 * (flavors ns/uns only: criu dumps SysV IPC objects as part of an ipc
 * namespace it owns; in h see sysv_shm_crfail).
 *
 * Three segments, made before the checkpoint:
 *  A  key KEY_A, 5 pages + 100 bytes, mode 0640, filled with datagen data
 *     and attached (kept mapped at address pa);
 *  B  key KEY_B, 3 pages, mode 0604, data written through a temporary
 *     attach and then detached: not attached by anybody at the dump, so
 *     only criu's copy of the segment (not a task's mapping) keeps it;
 *  C  IPC_PRIVATE, one page, mode 0600, attached read-only at pc.
 * After restore, for each: shmget(key) still finds the same id; IPC_STAT
 * gives the same size, mode, owner uid/gid and number of attaches (A 1,
 * B 0, C 1); the data is intact (A through the old mapping, B through a
 * new attach, C through its read-only mapping); the old mapping of A and a
 * new attach of A are the same memory (a write through one is seen through
 * the other); and the mapping of C is still read-only (writing faults).
 */
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "zdtmtst.h"

#define PAGE 4096
#define KEY_A 0x5a0d0001
#define KEY_B 0x5a0d0002
#define SIZE_A (5 * PAGE + 100)
#define SIZE_B (3 * PAGE)
#define SIZE_C PAGE

struct seg {
	const char *name;
	key_t key;
	size_t size;
	unsigned int mode;
	int id;
	unsigned long nattch;
	uid_t uid;
	gid_t gid;
	uint32_t crc;
};

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

static int stat_check(struct seg *s)
{
	struct shmid_ds ds;
	int id;

	if (s->key != IPC_PRIVATE) {
		id = shmget(s->key, 0, 0);
		if (id < 0) {
			fail("segment %s: shmget(key %#x) does not find it", s->name, s->key);
			return 1;
		}
		if (id != s->id) {
			fail("segment %s: key %#x now has id %d, was %d", s->name, s->key, id, s->id);
			return 1;
		}
	}
	if (shmctl(s->id, IPC_STAT, &ds)) {
		fail("segment %s: IPC_STAT of id %d", s->name, s->id);
		return 1;
	}
	if (ds.shm_perm.__key != s->key || ds.shm_segsz != s->size || (ds.shm_perm.mode & 0777) != s->mode ||
	    ds.shm_perm.uid != s->uid || ds.shm_perm.gid != s->gid || ds.shm_nattch != s->nattch) {
		fail("segment %s: key %#x size %zu mode %o uid %d gid %d nattch %lu; "
		     "expected key %#x size %zu mode %o uid %d gid %d nattch %lu",
		     s->name, ds.shm_perm.__key, (size_t)ds.shm_segsz, ds.shm_perm.mode & 0777,
		     (int)ds.shm_perm.uid, (int)ds.shm_perm.gid, (unsigned long)ds.shm_nattch, s->key, s->size,
		     s->mode, (int)s->uid, (int)s->gid, s->nattch);
		return 1;
	}
	return 0;
}

static void cleanup(struct seg *segs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (segs[i].id >= 0)
			shmctl(segs[i].id, IPC_RMID, NULL);
}

int main(int argc, char **argv)
{
	struct seg segs[3] = {
		{ "A", KEY_A, SIZE_A, 0640, -1, 1 },
		{ "B", KEY_B, SIZE_B, 0604, -1, 0 },
		{ "C", IPC_PRIVATE, SIZE_C, 0600, -1, 1 },
	};
	unsigned char *pa, *pb, *pc, *pa2;
	volatile int faulted = 0;
	struct sigaction sa = { .sa_handler = on_segv };
	int i, ret = 0;

	test_init(argc, argv);

	for (i = 0; i < 3; i++) {
		segs[i].uid = geteuid();
		segs[i].gid = getegid();
		segs[i].crc = ~0u;
		segs[i].id = shmget(segs[i].key, segs[i].size, IPC_CREAT | IPC_EXCL | segs[i].mode);
		if (segs[i].id < 0) {
			if (errno == ENOSYS)
				skip("no SysV IPC in this kernel");
			pr_perror("shmget segment %s", segs[i].name);
			cleanup(segs, i);
			return 1;
		}
	}
	pa = shmat(segs[0].id, NULL, 0);
	pb = shmat(segs[1].id, NULL, 0);
	pc = shmat(segs[2].id, NULL, 0);
	if (pa == (void *)-1 || pb == (void *)-1 || pc == (void *)-1) {
		pr_perror("shmat");
		cleanup(segs, 3);
		return 1;
	}
	datagen(pa, SIZE_A, &segs[0].crc);
	datagen(pb, SIZE_B, &segs[1].crc);
	datagen(pc, SIZE_C, &segs[2].crc);
	/* B: detached; C: re-attached read-only */
	if (shmdt(pb) || shmdt(pc)) {
		pr_perror("shmdt");
		cleanup(segs, 3);
		return 1;
	}
	pc = shmat(segs[2].id, NULL, SHM_RDONLY);
	if (pc == (void *)-1) {
		pr_perror("shmat read-only");
		cleanup(segs, 3);
		return 1;
	}

	test_daemon();
	test_waitsig();

	for (i = 0; i < 3; i++)
		ret |= stat_check(&segs[i]);

	segs[0].crc = ~0u;
	if (datachk(pa, SIZE_A, &segs[0].crc)) {
		fail("segment A: the data seen through the old attach changed");
		ret = 1;
	}
	segs[2].crc = ~0u;
	if (datachk(pc, SIZE_C, &segs[2].crc)) {
		fail("segment C: the data seen through the read-only attach changed");
		ret = 1;
	}
	pb = shmat(segs[1].id, NULL, SHM_RDONLY);
	if (pb == (void *)-1) {
		fail("segment B: shmat after restore");
		ret = 1;
	} else {
		segs[1].crc = ~0u;
		if (datachk(pb, SIZE_B, &segs[1].crc)) {
			fail("segment B (not attached at the dump): its data changed");
			ret = 1;
		}
		shmdt(pb);
	}

	pa2 = shmat(segs[0].id, NULL, 0);
	if (pa2 == (void *)-1) {
		fail("segment A: second shmat after restore");
		ret = 1;
	} else {
		pa2[SIZE_A / 2] ^= 0x5a;
		if (pa[SIZE_A / 2] != pa2[SIZE_A / 2]) {
			fail("segment A: the old attach is no longer the segment's memory");
			ret = 1;
		}
		pa2[SIZE_A / 2] ^= 0x5a;
		shmdt(pa2);
	}

	sigaction(SIGSEGV, &sa, NULL);
	if (!sigsetjmp(segv_jmp, 1)) {
		*(volatile unsigned char *)pc = 0;
	} else {
		faulted = 1;
	}
	signal(SIGSEGV, SIG_DFL);
	if (!faulted) {
		fail("segment C: its read-only attach became writable");
		ret = 1;
	}

	cleanup(segs, 3);
	if (!ret)
		pass();
	return ret;
}
