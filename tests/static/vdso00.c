/*
 * vdso00: the vDSO keeps working after restore.
 * Before C/R the test looks up __vdso_clock_gettime, __vdso_gettimeofday and
 * __vdso_time in the vDSO image (AT_SYSINFO_EHDR) and keeps the function
 * pointers, as glibc does.  After restore (where criu has to put a working
 * vDSO, or a proxy to the new one, at the old address):
 *  - [vdso] is still mapped;
 *  - calling the old pointers works and agrees with the real syscalls:
 *    CLOCK_MONOTONIC/REALTIME/BOOTTIME read through the vDSO lie between
 *    two syscall readings taken around them (1 ms slack), gettimeofday()
 *    and time() agree with their syscalls;
 *  - CLOCK_MONOTONIC and CLOCK_BOOTTIME did not go backwards across C/R and
 *    REALTIME is not before the pre-dump reading;
 *  - 100000 consecutive vDSO readings never go backwards;
 *  - glibc's own clock_gettime()/gettimeofday() agree as well.
 */
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

typedef int (*cgt_t)(clockid_t, struct timespec *);
typedef int (*gtod_t)(struct timeval *, void *);
typedef time_t (*time_fn_t)(time_t *);

static cgt_t v_cgt;
static gtod_t v_gtod;
static time_fn_t v_time;

#define SLACK_NS 1000000LL

static void *vdso_sym(const char *name)
{
	ElfW(Ehdr) *eh = (ElfW(Ehdr) *)getauxval(AT_SYSINFO_EHDR);
	ElfW(Shdr) *sh;
	ElfW(Phdr) *ph;
	uintptr_t base, load_off = 0;
	int i, found_load = 0;

	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return NULL;
	base = (uintptr_t)eh;
	ph = (ElfW(Phdr) *)(base + eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && !found_load) {
			load_off = base + ph[i].p_offset - ph[i].p_vaddr;
			found_load = 1;
		}
	if (!found_load)
		return NULL;
	sh = (ElfW(Shdr) *)(base + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++) {
		ElfW(Sym) *sym;
		const char *str;
		size_t n, k;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		sym = (ElfW(Sym) *)(base + sh[i].sh_offset);
		str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
		n = sh[i].sh_size / sizeof(ElfW(Sym));
		for (k = 0; k < n; k++)
			if (sym[k].st_name && sym[k].st_shndx != SHN_UNDEF &&
			    ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && !strcmp(str + sym[k].st_name, name))
				return (void *)(load_off + sym[k].st_value);
	}
	return NULL;
}

static long long ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static long long sys_ns(clockid_t clk)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, clk, &ts);
	return ts_ns(&ts);
}

static const char *clk_name(clockid_t clk)
{
	return clk == CLOCK_MONOTONIC ? "MONOTONIC" : clk == CLOCK_REALTIME ? "REALTIME" : "BOOTTIME";
}

/* a vDSO reading between two syscall readings */
static int check_clock(clockid_t clk, cgt_t fn, const char *via)
{
	struct timespec ts;
	long long a, b, v;

	a = sys_ns(clk);
	if (fn(clk, &ts)) {
		fail("%s clock_gettime(%s) failed", via, clk_name(clk));
		return 1;
	}
	b = sys_ns(clk);
	v = ts_ns(&ts);
	if (v < a - SLACK_NS || v > b + SLACK_NS) {
		fail("%s clock_gettime(%s) = %lld, not between the syscall's %lld and %lld", via,
		     clk_name(clk), v, a, b);
		return 1;
	}
	return 0;
}

static int check_all(gtod_t gtod, time_fn_t tfn, cgt_t cgt, const char *via)
{
	static const clockid_t clks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME };
	struct timeval tv1, tv, tv2;
	long long a, b, v;
	time_t t1, t, t2;
	size_t i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(clks); i++)
		ret |= check_clock(clks[i], cgt, via);

	syscall(SYS_gettimeofday, &tv1, NULL);
	gtod(&tv, NULL);
	syscall(SYS_gettimeofday, &tv2, NULL);
	a = tv1.tv_sec * 1000000LL + tv1.tv_usec;
	v = tv.tv_sec * 1000000LL + tv.tv_usec;
	b = tv2.tv_sec * 1000000LL + tv2.tv_usec;
	if (v < a - 1000 || v > b + 1000) {
		fail("%s gettimeofday() = %lld us, not between the syscall's %lld and %lld", via, v, a, b);
		ret = 1;
	}
	if (tfn) {
		t1 = syscall(SYS_time, NULL);
		t = tfn(NULL);
		t2 = syscall(SYS_time, NULL);
		if (t < t1 || t > t2) {
			fail("%s time() = %ld, not between the syscall's %ld and %ld", via, (long)t, (long)t1,
			     (long)t2);
			ret = 1;
		}
	}
	return ret;
}

static int glibc_gtod(struct timeval *tv, void *tz)
{
	return gettimeofday(tv, tz);
}

static int vdso_mapped(void)
{
	char *maps = read_file("/proc/self/maps", NULL);
	int ok = maps && strstr(maps, "[vdso]");

	free(maps);
	return ok;
}

int main(int argc, char **argv)
{
	long long mono0, boot0, real0, prev, now;
	struct timespec ts;
	int ret = 0, i;

	test_init(argc, argv);

	if (!getauxval(AT_SYSINFO_EHDR))
		skip("no vDSO (AT_SYSINFO_EHDR is 0)");
	v_cgt = (cgt_t)vdso_sym("__vdso_clock_gettime");
	v_gtod = (gtod_t)vdso_sym("__vdso_gettimeofday");
	v_time = (time_fn_t)vdso_sym("__vdso_time");
	if (!v_cgt || !v_gtod) {
		pr_err("can't find __vdso_clock_gettime / __vdso_gettimeofday in the vDSO");
		return 1;
	}
	if (check_all(v_gtod, v_time, v_cgt, "vDSO")) {
		pr_err("the vDSO disagrees with the syscalls before C/R");
		return 1;
	}

	mono0 = sys_ns(CLOCK_MONOTONIC);
	boot0 = sys_ns(CLOCK_BOOTTIME);
	real0 = sys_ns(CLOCK_REALTIME);

	test_daemon();
	test_waitsig();

	if (!vdso_mapped()) {
		fail("no [vdso] in /proc/self/maps");
		ret = 1;
	}
	ret |= check_all(v_gtod, v_time, v_cgt, "vDSO");
	ret |= check_all(glibc_gtod, NULL, clock_gettime, "glibc");

	v_cgt(CLOCK_MONOTONIC, &ts);
	if (ts_ns(&ts) < mono0) {
		fail("CLOCK_MONOTONIC went backwards across C/R: %lld < %lld", ts_ns(&ts), mono0);
		ret = 1;
	}
	v_cgt(CLOCK_BOOTTIME, &ts);
	if (ts_ns(&ts) < boot0) {
		fail("CLOCK_BOOTTIME went backwards across C/R: %lld < %lld", ts_ns(&ts), boot0);
		ret = 1;
	}
	v_cgt(CLOCK_REALTIME, &ts);
	if (ts_ns(&ts) < real0) {
		fail("CLOCK_REALTIME is before the pre-dump reading: %lld < %lld", ts_ns(&ts), real0);
		ret = 1;
	}

	v_cgt(CLOCK_MONOTONIC, &ts);
	prev = ts_ns(&ts);
	for (i = 0; i < 100000; i++) {
		v_cgt(CLOCK_MONOTONIC, &ts);
		now = ts_ns(&ts);
		if (now < prev) {
			fail("vDSO CLOCK_MONOTONIC went backwards: %lld after %lld", now, prev);
			ret = 1;
			break;
		}
		prev = now;
	}
	if (!ret)
		pass();
	return ret;
}
