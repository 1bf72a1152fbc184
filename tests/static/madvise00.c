/*
 * madvise00: madvise() state of anonymous private mappings.
 *  A: 8 pages of data; pages 2-3 dropped with MADV_DONTNEED.
 *  B: MADV_DONTFORK on the middle 2 of 4 pages (splits the VMA).
 *  C: MADV_WIPEONFORK.
 *  D: MADV_DONTDUMP (a core-dump hint: criu must still keep the data).
 *  E: MADV_HUGEPAGE, F: MADV_NOHUGEPAGE (only if the kernel has THP).
 * After restore:
 *  - A's dropped pages read as zeroes and are not resident (mincore), the
 *    others keep their data;
 *  - /proc/self/smaps VmFlags still carry dc / wf / dd / hg / nh where they
 *    were set, and not on the neighbouring pages of B;
 *  - a child forked after restore has no mapping for B's DONTFORK pages
 *    (mincore: ENOMEM) but does have the rest of B, sees zeroes in C and
 *    the data in D; the parent still sees its own data everywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

static long psz;
static unsigned char *A, *B, *C, *D, *E, *F;
static uint32_t crc_a[8], crc_b[4], crc_c, crc_d;
static int have_thp;

/* VmFlags of the VMA containing addr, or NULL */
static char *vmflags(void *addr, char *out, size_t len)
{
	char *smaps = read_file("/proc/self/smaps", NULL), *line, *save = NULL;
	unsigned long a = (unsigned long)addr;
	int in = 0;

	if (!smaps)
		return NULL;
	for (line = strtok_r(smaps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= s && a < e;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, len, "%s ", line + 8); /* " rd wr ... " */
			free(smaps);
			return out;
		}
	}
	free(smaps);
	return NULL;
}

static int check_flag(const char *what, void *addr, const char *flag, int want)
{
	char flags[256], pat[8];
	int has;

	if (!vmflags(addr, flags, sizeof(flags))) {
		fail("%s: no VMA at %p in /proc/self/smaps", what, addr);
		return 1;
	}
	snprintf(pat, sizeof(pat), " %s ", flag);
	has = strstr(flags, pat) != NULL;
	if (has != want) {
		fail("%s: VmFlags '%s' %s '%s'", what, flags, want ? "lack" : "have", flag);
		return 1;
	}
	return 0;
}

static int is_zero(const unsigned char *p, size_t len)
{
	while (len--)
		if (*p++)
			return 0;
	return 1;
}

/* read_zero: also read the dropped pages (that maps the zero page: only at the very end) */
static int check_parent(int read_zero)
{
	unsigned char vec[2];
	uint32_t crc = ~0u;
	int i, ret = 0;

	for (i = 0; i < 8; i++) {
		if (i == 2 || i == 3)
			continue;
		if (datachk2(A + i * psz, psz, crc_a[i])) {
			fail("A: page %d changed", i);
			ret = 1;
		}
	}
	if (mincore(A + 2 * psz, 2 * psz, vec) || (vec[0] & 1) || (vec[1] & 1)) {
		fail("A: the MADV_DONTNEED pages are resident (%d %d)", vec[0], vec[1]);
		ret = 1;
	}
	if (read_zero && !is_zero(A + 2 * psz, 2 * psz)) {
		fail("A: the MADV_DONTNEED pages are not zero");
		ret = 1;
	}
	for (i = 0; i < 4; i++)
		if (datachk2(B + i * psz, psz, crc_b[i])) {
			fail("B: page %d changed", i);
			ret = 1;
		}
	if (datachk2(C, 4 * psz, crc_c)) {
		fail("C (WIPEONFORK): data changed in the parent");
		ret = 1;
	}
	crc = ~0u;
	if (datachk(D, 4 * psz, &crc)) {
		fail("D (DONTDUMP): data lost");
		ret = 1;
	}
	(void)crc_d;
	return ret;
}

static int check_flags(void)
{
	int ret = 0;

	ret |= check_flag("B page 0", B, "dc", 0);
	ret |= check_flag("B page 1 (DONTFORK)", B + psz, "dc", 1);
	ret |= check_flag("B page 2 (DONTFORK)", B + 2 * psz, "dc", 1);
	ret |= check_flag("B page 3", B + 3 * psz, "dc", 0);
	ret |= check_flag("C (WIPEONFORK)", C, "wf", 1);
	ret |= check_flag("D (DONTDUMP)", D, "dd", 1);
	ret |= check_flag("A", A, "dc", 0);
	ret |= check_flag("A", A, "wf", 0);
	if (have_thp) {
		ret |= check_flag("E (HUGEPAGE)", E, "hg", 1);
		ret |= check_flag("F (NOHUGEPAGE)", F, "nh", 1);
	}
	return ret;
}

/* runs in a child forked after restore */
static int child(void *arg)
{
	unsigned char vec[4];
	uint32_t crc = ~0u;
	int ret = 0;

	(void)arg;
	if (mincore(B + psz, 2 * psz, vec) == 0 || errno != ENOMEM) {
		fail("child: B's MADV_DONTFORK pages are mapped in a forked child");
		ret = 1;
	}
	if (datachk2(B, psz, crc_b[0]) || datachk2(B + 3 * psz, psz, crc_b[3])) {
		fail("child: B's other pages are not inherited");
		ret = 1;
	}
	if (!is_zero(C, 4 * psz)) {
		fail("child: C (MADV_WIPEONFORK) is not wiped in a forked child");
		ret = 1;
	}
	if (datachk(D, 4 * psz, &crc)) {
		fail("child: D's data is not inherited");
		ret = 1;
	}
	return ret;
}

static unsigned char *map(int pages)
{
	void *p = mmap(NULL, pages * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	uint32_t crc;
	int i, ret = 0;
	pid_t pid;

	test_init(argc, argv);

	psz = sysconf(_SC_PAGESIZE);
	A = map(8);
	B = map(4);
	C = map(4);
	D = map(4);
	E = map(512 * 2);
	F = map(4);
	if (!A || !B || !C || !D || !E || !F) {
		pr_perror("mmap");
		return 1;
	}
	for (i = 0; i < 8; i++)
		datagen2(A + i * psz, psz, &crc_a[i]);
	for (i = 0; i < 4; i++)
		datagen2(B + i * psz, psz, &crc_b[i]);
	datagen2(C, 4 * psz, &crc_c);
	crc = ~0u;
	datagen(D, 4 * psz, &crc);

	if (madvise(A + 2 * psz, 2 * psz, MADV_DONTNEED) ||
	    madvise(B + psz, 2 * psz, MADV_DONTFORK) ||
	    madvise(D, 4 * psz, MADV_DONTDUMP)) {
		pr_perror("madvise");
		return 1;
	}
	if (madvise(C, 4 * psz, MADV_WIPEONFORK))
		skip("MADV_WIPEONFORK is not supported: %s", strerror(errno));
	have_thp = !madvise(E, 512 * 2 * psz, MADV_HUGEPAGE) && !madvise(F, 4 * psz, MADV_NOHUGEPAGE);
	if (!have_thp)
		test_msg("no transparent huge pages: MADV_(NO)HUGEPAGE not checked\n");

	if (check_parent(0) || check_flags()) {
		pr_err("the madvise state is wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_flags();
	ret |= check_parent(0);
	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		fail("fork");
		return 1;
	}
	if (wait_exit_code(pid) != 0) {
		fail("the child forked after restore found the fork semantics broken");
		ret = 1;
	}
	/* and the parent's own copy is untouched by the child */
	ret |= check_parent(1);
	if (!ret)
		pass();
	return ret;
}
