/*
 * cow00: copy-on-write private memory shared between a parent and a child.
 * A 32-page private anonymous mapping and a .bss array are filled before
 * fork().  Then the parent rewrites pages 0-7, the child pages 8-15, both
 * rewrite pages 20-21 with different data; the other pages stay shared
 * (not yet copied).  Likewise for halves of the .bss array.
 * After restore each side checks every page against what it should see
 * (its own writes, the original data elsewhere); then the child writes to
 * a page that was still shared (16) and the parent to another (17), and
 * each side checks it does not see the other's write.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NPAGES 32
#define BSS_LEN (64 * 1024)

enum { ORIG, PARENT, CHILD };

static long psz;
static unsigned char *area;
static unsigned char bss[BSS_LEN];
static uint32_t crc[3][NPAGES];	/* per page: original, parent's, child's */
static uint32_t bss_crc[3][2];	/* per half */
static task_waiter_t tw;

static void fill(int who, int from, int to)
{
	int i;

	for (i = from; i <= to; i++)
		datagen2(area + i * psz, psz, &crc[who][i]);
}

static int owner(int who, int page)
{
	if (who == PARENT && ((page >= 0 && page <= 7) || page == 20 || page == 21))
		return PARENT;
	if (who == CHILD && ((page >= 8 && page <= 15) || page == 20 || page == 21))
		return CHILD;
	return ORIG;
}

static int check(int who, const char *name)
{
	int i, ret = 0, half;

	for (i = 0; i < NPAGES; i++) {
		int o = owner(who, i);

		if (datachk2(area + i * psz, psz, crc[o][i])) {
			fail("%s: page %d is not the %s data", name, i,
			     o == ORIG ? "original" : o == PARENT ? "parent's" : "child's");
			ret = 1;
		}
	}
	half = who == PARENT ? 0 : 1; /* the parent rewrote the first half, the child the second */
	if (datachk2(bss + half * BSS_LEN / 2, BSS_LEN / 2, bss_crc[who][half]) ||
	    datachk2(bss + (1 - half) * BSS_LEN / 2, BSS_LEN / 2, bss_crc[ORIG][1 - half])) {
		fail("%s: .bss data is wrong", name);
		ret = 1;
	}
	return ret;
}

/* after restore: write into a page that is still shared ... */
static void cross_write(int who)
{
	memset(area + (who == PARENT ? 17 : 16) * psz, who, psz);
}

/* ... and, once the other side has written its page, make sure we don't see that */
static int cross_check(int who, const char *name)
{
	int theirs = who == PARENT ? 16 : 17;

	if (datachk2(area + theirs * psz, psz, crc[ORIG][theirs])) {
		fail("%s: page %d shows the other side's post-restore write", name, theirs);
		return 1;
	}
	return 0;
}

static int child(void *arg)
{
	int ret;

	(void)arg;
	fill(CHILD, 8, 15);
	fill(CHILD, 20, 21);
	datagen2(bss + BSS_LEN / 2, BSS_LEN / 2, &bss_crc[CHILD][1]);
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	ret = check(CHILD, "child");
	task_complete(&tw, 3);
	task_wait(&tw, 4); /* the parent has written page 17 */
	cross_write(CHILD);
	ret |= cross_check(CHILD, "child");
	task_complete(&tw, 5);
	return ret;
}

int main(int argc, char **argv)
{
	int ret = 0, code;
	pid_t pid;

	test_init(argc, argv);

	psz = sysconf(_SC_PAGESIZE);
	area = mmap(NULL, NPAGES * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || task_waiter_init(&tw)) {
		pr_perror("mmap");
		return 1;
	}
	fill(ORIG, 0, NPAGES - 1);
	datagen2(bss, BSS_LEN / 2, &bss_crc[ORIG][0]);
	datagen2(bss + BSS_LEN / 2, BSS_LEN / 2, &bss_crc[ORIG][1]);

	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	task_wait(&tw, 1); /* the child has written its pages */
	fill(PARENT, 0, 7);
	fill(PARENT, 20, 21);
	datagen2(bss, BSS_LEN / 2, &bss_crc[PARENT][0]);
	if (check(PARENT, "parent")) {
		pr_err("memory is wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check(PARENT, "parent");
	task_complete(&tw, 2);
	task_wait(&tw, 3);
	cross_write(PARENT);
	task_complete(&tw, 4);
	task_wait(&tw, 5); /* the child has written page 16 */
	ret |= cross_check(PARENT, "parent");
	code = wait_exit_code(pid);
	if (code) {
		fail("the child found its memory wrong (exit code %d)", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
