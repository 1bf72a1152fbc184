/*
 * mprotect00: several protection changes within one anonymous mapping.
 * A 16-page private mapping is filled with datagen() data, then split by
 * mprotect() into runs of r--, rw-, ---, r-x, -w-, r-- (via rwx) and rw-
 * (via r--, i.e. changed and changed back).  After restore:
 *  - /proc/self/maps shows the expected protection for every page;
 *  - the protections are enforced: reading a PROT_NONE page and writing a
 *    read-only page fault, writable pages can be written, and (on x86_64)
 *    a 'ret' instruction placed in the r-x page can be called;
 *  - every page keeps its contents (unreadable pages are made readable
 *    for the check).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NPAGES 16

static const int prots[NPAGES] = {
	PROT_READ, PROT_READ,				/* r-- */
	PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,	/* rw- untouched */
	PROT_NONE, PROT_NONE,				/* --- */
	PROT_READ | PROT_EXEC, PROT_READ | PROT_EXEC,	/* r-x */
	PROT_WRITE, PROT_WRITE,				/* -w- */
	PROT_READ, PROT_READ,				/* r-- (was rwx) */
	PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,	/* rw- (was r--) */
	PROT_READ, PROT_NONE,				/* r--, --- */
};

static long psz;
static unsigned char *area;
static uint32_t crcs[NPAGES];
static sigjmp_buf jb;

static void segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* 1 if the access faulted */
static int probe(volatile unsigned char *p, int write)
{
	if (sigsetjmp(jb, 1))
		return 1;
	if (write)
		*p = *p;
	else
		(void)*p;
	return 0;
}

static void perm_str(int prot, char *s)
{
	s[0] = prot & PROT_READ ? 'r' : '-';
	s[1] = prot & PROT_WRITE ? 'w' : '-';
	s[2] = prot & PROT_EXEC ? 'x' : '-';
	s[3] = 'p';
	s[4] = '\0';
}

static int check_maps(void)
{
	char *maps = read_file("/proc/self/maps", NULL), *line, *save = NULL;
	int seen[NPAGES] = { 0 }, i, ret = 0;

	if (!maps) {
		fail("can't read /proc/self/maps");
		return 1;
	}
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long start, end, a;
		char p[5], want[5];

		if (sscanf(line, "%lx-%lx %4s", &start, &end, p) != 3)
			continue;
		for (i = 0; i < NPAGES; i++) {
			a = (unsigned long)area + i * psz;
			if (a < start || a >= end)
				continue;
			seen[i] = 1;
			perm_str(prots[i], want);
			if (strcmp(p, want)) {
				fail("page %d: protection %s, expected %s", i, p, want);
				ret = 1;
			}
		}
	}
	free(maps);
	for (i = 0; i < NPAGES; i++)
		if (!seen[i]) {
			fail("page %d is not mapped any more", i);
			ret = 1;
		}
	return ret;
}

static int check_enforced(void)
{
	volatile int ret = 0; /* kept across siglongjmp */
	int i;

	for (i = 0; i < NPAGES; i++) {
		unsigned char *p = area + i * psz + 8;
		int r_fault = probe(p, 0), w_fault;

		/* x86 can't make a page write-only: PROT_WRITE pages are readable */
		if (prots[i] != PROT_WRITE && r_fault != !(prots[i] & PROT_READ)) {
			fail("page %d: a read %s", i, r_fault ? "faulted" : "did not fault");
			ret = 1;
		}
		w_fault = probe(p, 1);
		if (w_fault != !(prots[i] & PROT_WRITE)) {
			fail("page %d: a write %s", i, w_fault ? "faulted" : "did not fault");
			ret = 1;
		}
	}
#if defined(__x86_64__)
	{
		void (*fn)(void) = (void (*)(void))(area + 6 * psz);

		if (sigsetjmp(jb, 1)) {
			fail("calling code in the r-x page faulted");
			ret = 1;
		} else {
			fn();
		}
	}
#endif
	return ret;
}

static int check_data(void)
{
	int i, ret = 0;

	for (i = 0; i < NPAGES; i++) {
		unsigned char *p = area + i * psz;

		if (!(prots[i] & PROT_READ) && mprotect(p, psz, prots[i] | PROT_READ)) {
			fail("mprotect page %d", i);
			return 1;
		}
		if (datachk2(p, psz, crcs[i])) {
			fail("page %d: contents changed", i);
			ret = 1;
		}
		if (!(prots[i] & PROT_READ) && mprotect(p, psz, prots[i])) {
			fail("mprotect page %d back", i);
			return 1;
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int i, ret = 0;

	test_init(argc, argv);

	psz = sysconf(_SC_PAGESIZE);
	area = mmap(NULL, NPAGES * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	for (i = 0; i < NPAGES; i++)
		datagen2(area + i * psz, psz, &crcs[i]);
	area[6 * psz] = 0xc3; /* x86 'ret' at the start of the r-x run */
	crcs[6] = zdtm_crc32(area + 6 * psz, psz);

	/* the detours: pages 10-11 were rwx, pages 12-13 were read-only for a while */
	if (mprotect(area + 10 * psz, 2 * psz, PROT_READ | PROT_WRITE | PROT_EXEC) ||
	    mprotect(area + 12 * psz, 2 * psz, PROT_READ)) {
		pr_perror("mprotect (detour)");
		return 1;
	}
	for (i = 0; i < NPAGES; i++)
		if (mprotect(area + i * psz, psz, prots[i])) {
			pr_perror("mprotect page %d", i);
			return 1;
		}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = segv;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	if (check_maps() || check_enforced() || check_data()) {
		pr_err("the mapping is wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_maps();
	ret |= check_enforced();
	ret |= check_data();
	if (!ret)
		pass();
	return ret;
}
