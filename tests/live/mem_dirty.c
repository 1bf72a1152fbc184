/*
 * mem_dirty: pages of big buffers keep being rewritten while the process is
 * checkpointed and restored; a journal says what each page must hold.
 *
 * Memory:
 *   - PRIV: 48 MiB private anonymous, dirtied by the test process;
 *   - SHARED: 16 MiB MAP_SHARED anonymous, shared with a forked helper; the
 *     test dirties the first half, the helper the second half;
 *   - a private buffer in the helper (COW from the test's PRIV at fork,
 *     then diverging as the helper rewrites its own copy).
 * Rewriting page p to version v fills it with a stream derived from
 * (region, p, v) and then records v in the journal (versions the helper
 * writes into its copy of PRIV have the top bit set, so the two copies
 * diverge) (the helper's journal
 * for its halves lives in shared memory); pages are picked at random, in
 * runs of several neighbours sometimes, and whole-page memset()s of zeroes
 * (version 0 means "all zero": untouched or zeroed) are mixed in, as is
 * madvise(MADV_DONTNEED) on private pages (which zeroes them too).
 *
 * At SIGTERM the helper stops, verifies its own memory and reports; the test
 * verifies every page of PRIV and of both halves of SHARED against the
 * journals (a page written before the dump but lost, or restored from a
 * stale copy, shows a wrong version), and reports how many rewrites happened.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define PRIV_SIZE (48 << 20)
#define SHARED_SIZE (16 << 20)

struct region {
	const char *name;
	uint8_t *mem;
	size_t npages;
	uint32_t *journal;	/* version per page, 0 = zero page */
	uint64_t id;
	uint32_t tag;	/* or-ed into the versions this process writes */
	uint64_t rng;
	uint64_t writes;
};

struct shared_ctl {
	volatile int stop;
	volatile int helper_ok;	/* 1 ok, 2 failed */
	volatile uint64_t helper_writes;
	volatile int helper_started;
};

static size_t page;

static void fill_page(struct region *r, size_t p, uint32_t v)
{
	uint8_t *a = r->mem + p * page;

	if (v == 0)
		memset(a, 0, page);
	else
		live_stream_fill(a, page, 0, live_mix64(r->id ^ ((uint64_t)p << 32) ^ v));
}

static int page_ok(struct region *r, size_t p)
{
	uint8_t *a = r->mem + p * page;
	uint32_t v = r->journal[p];
	size_t i;

	if (v)
		return live_stream_check(a, page, 0, live_mix64(r->id ^ ((uint64_t)p << 32) ^ v)) < 0;
	for (i = 0; i < page; i++)
		if (a[i])
			return 0;
	return 1;
}

static void dirty(struct region *r, int may_dontneed)
{
	size_t p, run, k;
	uint32_t v;

	r->rng = live_mix64(r->rng);
	p = r->rng % r->npages;
	run = (r->rng >> 32) % 4 == 0 ? 1 + (r->rng >> 40) % 16 : 1;
	for (k = 0; k < run && p + k < r->npages; k++) {
		v = ((r->journal[p + k] & 0x7fffffff) + 1) | r->tag;
		if ((r->rng >> 20) % 29 == 0)
			v = 0;
		if (v == 0 && may_dontneed && (r->rng >> 24) % 2) {
			madvise(r->mem + (p + k) * page, page, MADV_DONTNEED);
		} else {
			fill_page(r, p + k, v);
		}
		r->journal[p + k] = v;
		r->writes++;
	}
}

static uint64_t verify(struct region *r, const char *who)
{
	uint64_t bad = 0;
	size_t p;

	for (p = 0; p < r->npages; p++)
		if (!page_ok(r, p)) {
			if (bad < 5)
				fail("%s: %s page %zu does not hold version %u", who, r->name, p, r->journal[p]);
			bad++;
		}
	return bad;
}

int main(int argc, char **argv)
{
	struct region priv, sh_lo, sh_hi;
	struct shared_ctl *ctl;
	uint8_t *shmem;
	uint64_t bad = 0, loops = 0;
	int status, ready = 0;
	pid_t pid;

	test_init(argc, argv);
	page = sysconf(_SC_PAGESIZE);

	ctl = live_shared(sizeof(*ctl));
	shmem = live_shared(SHARED_SIZE);
	priv.mem = mmap(NULL, PRIV_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	priv.npages = PRIV_SIZE / page;
	priv.journal = calloc(priv.npages, sizeof(uint32_t));
	sh_lo.npages = sh_hi.npages = SHARED_SIZE / page / 2;
	sh_lo.journal = calloc(sh_lo.npages, sizeof(uint32_t));
	sh_hi.journal = live_shared(sh_hi.npages * sizeof(uint32_t)); /* the helper's journal */
	if (!ctl || !shmem || priv.mem == MAP_FAILED || !priv.journal || !sh_lo.journal || !sh_hi.journal) {
		pr_perror("allocation");
		return 1;
	}
	sh_lo.mem = shmem;
	sh_hi.mem = shmem + sh_lo.npages * page;
	priv.name = "private";
	sh_lo.name = "shared (test's half)";
	sh_hi.name = "shared (helper's half)";
	priv.id = 1;
	sh_lo.id = 2;
	sh_hi.id = 3;
	priv.rng = 11;
	sh_lo.rng = 22;
	sh_hi.rng = 33;
	priv.writes = sh_lo.writes = sh_hi.writes = 0;
	priv.tag = sh_lo.tag = sh_hi.tag = 0;

	/* some content before the fork: the helper gets a COW copy of it */
	for (loops = 0; loops < 2000; loops++)
		dirty(&priv, 1);

	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		/* the helper: its half of SHARED and its own copy of PRIV */
		uint32_t *myjournal = malloc(priv.npages * sizeof(uint32_t));
		uint64_t b;

		if (!myjournal)
			_exit(1);
		memcpy(myjournal, priv.journal, priv.npages * sizeof(uint32_t));
		priv.journal = myjournal;
		priv.tag = 0x80000000; /* the helper's versions differ from the test's */
		priv.rng = 44;
		ctl->helper_started = 1;
		while (!ctl->stop) {
			dirty(&sh_hi, 0);
			dirty(&priv, 1);
			ctl->helper_writes = sh_hi.writes + priv.writes;
		}
		b = verify(&priv, "helper");
		ctl->helper_ok = b ? 2 : 1;
		_exit(0);
	}

	for (;;) {
		dirty(&priv, 1);
		dirty(&sh_lo, 0);
		loops++;
		if (!ready && ctl->helper_started && ctl->helper_writes > 2000) {
			test_daemon();
			ready = 1;
		}
		if (ready && !test_go())
			break;
	}

	ctl->stop = 1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("the helper ended with status %#x", status);
		bad++;
	} else if (ctl->helper_ok != 1) {
		fail("the helper's copy of the private buffer lost pages");
		bad++;
	}
	bad += verify(&priv, "test");
	bad += verify(&sh_lo, "test");
	bad += verify(&sh_hi, "test");
	test_msg("page rewrites: test %llu private + %llu shared, helper %llu; %llu bad pages",
		 (unsigned long long)priv.writes, (unsigned long long)sh_lo.writes,
		 (unsigned long long)ctl->helper_writes, (unsigned long long)bad);
	if (!bad)
		pass();
	return bad ? 1 : 0;
}
