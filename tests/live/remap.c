/*
 * remap: the test keeps mapping, growing, shrinking, moving, protecting and
 * unmapping memory regions while it is checkpointed and restored.
 *
 * NSLOTS slots each hold at most one region: anonymous private, anonymous
 * shared (MAP_SHARED|MAP_ANONYMOUS) or a private mapping of a memfd.  Each
 * step picks a slot and, after checking the slot's contents against the
 * CRC kept for it:
 *   - empty slot: mmap 1..64 pages of a random kind, fill with datagen2;
 *   - otherwise one of: munmap; mremap to grow (MREMAP_MAYMOVE) and fill the
 *     new tail; mremap to shrink; mremap to a fixed new address
 *     (MREMAP_FIXED into a hole we reserved and released); mprotect
 *     read-only (and back to read-write at the next visit); rewrite a page.
 * The regions change from before test_daemon() until SIGTERM; the dump
 * sees them in every state, including read-only ones.
 *
 * After SIGTERM every remaining region is checked (contents CRC, and that
 * /proc/self/maps has it with the expected protection); then a forked child
 * flips a byte in every writable region: the change must show in the shared
 * ones and only there (sharing restored, private copies still private).
 * The number of operations of each kind is reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define NSLOTS 24
#define MAX_PAGES 64
#define MAX_LEN (MAX_PAGES + 64) /* pages: the memfd's size, and any region's limit */

enum kind { K_NONE, K_PRIV, K_SHARED, K_MEMFD };

struct slot {
	enum kind kind;
	uint8_t *addr;
	size_t len;
	int ro;
	uint32_t crc;
	size_t limit;	/* how far it may grow: the size of the object behind it */
};

static struct slot slots[NSLOTS];
static size_t page;
static int memfd = -1;
static uint64_t rng = 12345;
static uint64_t nops[8];

static uint64_t rnd(void)
{
	rng = live_mix64(rng);
	return rng;
}

static int check_slot(int i, const char *when)
{
	struct slot *s = &slots[i];

	if (s->kind == K_NONE)
		return 0;
	if (datachk2(s->addr, s->len, s->crc)) {
		fail("%s: slot %d (%s, %zu pages at %p%s) lost its contents", when, i,
		     s->kind == K_PRIV ? "private" : s->kind == K_SHARED ? "shared" : "memfd",
		     s->len / page, (void *)s->addr, s->ro ? ", read-only" : "");
		return -1;
	}
	return 0;
}

static int map_slot(struct slot *s)
{
	size_t npages = 1 + rnd() % MAX_PAGES;
	int flags, fd = -1;

	s->kind = (enum kind)(1 + rnd() % 3);
	s->len = npages * page;
	flags = s->kind == K_SHARED ? MAP_SHARED | MAP_ANONYMOUS : MAP_PRIVATE;
	if (s->kind == K_PRIV)
		flags |= MAP_ANONYMOUS;
	if (s->kind == K_MEMFD)
		fd = memfd;
	s->addr = mmap(NULL, s->len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (s->addr == MAP_FAILED) {
		pr_perror("mmap %zu bytes", s->len);
		return -1;
	}
	s->ro = 0;
	/* shared anonymous memory is a shmem file of the initial size */
	s->limit = s->kind == K_SHARED ? s->len : MAX_LEN * page;
	datagen2(s->addr, s->len, &s->crc);
	nops[0]++;
	return 0;
}

static int step(void)
{
	int i = rnd() % NSLOTS;
	struct slot *s = &slots[i];
	size_t newlen;
	uint8_t *p;

	if (check_slot(i, "during the loop"))
		return -1;
	if (s->kind == K_NONE)
		return map_slot(s);
	if (s->ro) {
		if (mprotect(s->addr, s->len, PROT_READ | PROT_WRITE)) {
			pr_perror("mprotect rw");
			return -1;
		}
		s->ro = 0;
		return 0;
	}
	switch (rnd() % 6) {
	case 0: /* unmap */
		if (munmap(s->addr, s->len)) {
			pr_perror("munmap");
			return -1;
		}
		s->kind = K_NONE;
		nops[1]++;
		break;
	case 1: /* grow, maybe moving */
		newlen = s->len + (1 + rnd() % 16) * page;
		if (newlen > s->limit)
			break; /* beyond the object behind the mapping: SIGBUS */
		p = mremap(s->addr, s->len, newlen, MREMAP_MAYMOVE);
		if (p == MAP_FAILED) {
			pr_perror("mremap grow");
			return -1;
		}
		s->addr = p;
		s->len = newlen;
		datagen2(s->addr, s->len, &s->crc);
		nops[2]++;
		break;
	case 2: /* shrink */
		if (s->len <= page)
			break;
		newlen = s->len - (1 + rnd() % (s->len / page - 1)) * page;
		if (mremap(s->addr, s->len, newlen, 0) == MAP_FAILED) {
			pr_perror("mremap shrink");
			return -1;
		}
		s->len = newlen;
		s->crc = zdtm_crc32(s->addr, s->len);
		nops[3]++;
		break;
	case 3: /* move to a chosen address */
		p = mmap(NULL, s->len + page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			pr_perror("reserve");
			return -1;
		}
		if (mremap(s->addr, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED, p + page) == MAP_FAILED) {
			pr_perror("mremap fixed");
			return -1;
		}
		munmap(p, page); /* what is left of the reservation: a hole below */
		s->addr = p + page;
		nops[4]++;
		break;
	case 4: /* read-only until the next visit */
		if (mprotect(s->addr, s->len, PROT_READ)) {
			pr_perror("mprotect ro");
			return -1;
		}
		s->ro = 1;
		nops[5]++;
		break;
	case 5: /* rewrite one page */
		p = s->addr + (rnd() % (s->len / page)) * page;
		live_stream_fill(p, page, 0, rnd());
		s->crc = zdtm_crc32(s->addr, s->len);
		nops[6]++;
		break;
	}
	return 0;
}

/* Is [addr, addr+len) covered by maps entries with these permissions? */
static int maps_cover(const char *maps, uintptr_t addr, size_t len, const char *perms)
{
	uintptr_t want = addr, end = addr + len;
	const char *l = maps;

	while (l && *l && want < end) {
		unsigned long a, b;
		char pr[5];

		if (sscanf(l, "%lx-%lx %4s", &a, &b, pr) == 3 && a <= want && want < b) {
			if (strncmp(pr, perms, 3))
				return 0;
			want = b;
			l = maps; /* entries are sorted, but restart to be simple */
			continue;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return want >= end;
}

int main(int argc, char **argv)
{
	uint64_t steps = 0;
	char *maps;
	int i, ret = 0, ready = 0, status;
	pid_t pid;

	test_init(argc, argv);

	page = sysconf(_SC_PAGESIZE);
	memfd = memfd_create("zdtm-remap", 0);
	if (memfd < 0 || ftruncate(memfd, MAX_LEN * page)) {
		pr_perror("memfd");
		return 1;
	}
	/* memfd private mappings are COW copies: give the file some content too */
	{
		uint8_t *f = mmap(NULL, MAX_PAGES * page, PROT_WRITE, MAP_SHARED, memfd, 0);

		if (f == MAP_FAILED) {
			pr_perror("mmap memfd");
			return 1;
		}
		live_stream_fill(f, MAX_PAGES * page, 0, 77);
		munmap(f, MAX_PAGES * page);
	}

	for (;;) {
		if (step()) {
			ret = 1;
			break;
		}
		steps++;
		if (!ready && steps >= 200) {
			test_daemon();
			ready = 1;
		}
		if (ready && !test_go())
			break;
	}
	test_waitsig();
	if (ret)
		return 1;

	for (i = 0; i < NSLOTS; i++)
		if (check_slot(i, "after SIGTERM"))
			ret = 1;
	maps = read_file("/proc/self/maps", NULL);
	if (!maps) {
		pr_perror("read maps");
		return 1;
	}
	for (i = 0; i < NSLOTS; i++) {
		struct slot *s = &slots[i];
		const char *perms = s->ro ? "r--" : "rw-";

		if (s->kind != K_NONE && !maps_cover(maps, (uintptr_t)s->addr, s->len, perms)) {
			fail("slot %d: %p+%zu is not mapped %s in /proc/self/maps", i, (void *)s->addr, s->len, perms);
			ret = 1;
		}
	}
	/* shared regions are still shared: a child changes them, we see it */
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < NSLOTS; i++)
			if (slots[i].kind == K_SHARED && !slots[i].ro)
				slots[i].addr[0] ^= 0xff;
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status) {
		pr_perror("child");
		return 1;
	}
	for (i = 0; i < NSLOTS; i++) {
		struct slot *s = &slots[i];
		int changed;

		if (s->kind == K_NONE || s->ro)
			continue;
		changed = datachk2(s->addr, s->len, s->crc);
		if (changed != (s->kind == K_SHARED)) {
			fail("slot %d (%s): a child's write %s", i, s->kind == K_SHARED ? "shared" : "private",
			     changed ? "leaked into it" : "did not reach it");
			ret = 1;
		}
	}
	test_msg("%llu steps: %llu maps, %llu unmaps, %llu grows, %llu shrinks, %llu moves, %llu mprotects, %llu rewrites",
		 (unsigned long long)steps, (unsigned long long)nops[0], (unsigned long long)nops[1],
		 (unsigned long long)nops[2], (unsigned long long)nops[3], (unsigned long long)nops[4],
		 (unsigned long long)nops[5], (unsigned long long)nops[6]);
	free(maps);
	if (!ret)
		pass();
	return ret;
}
