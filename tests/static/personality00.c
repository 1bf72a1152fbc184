/*
 * personality00: the execution domain flags.
 * The test sets personality(PER_LINUX | ADDR_NO_RANDOMIZE | UNAME26 |
 * READ_IMPLIES_EXEC).  After restore:
 *  - personality(0xffffffff) returns exactly that;
 *  - UNAME26 works: uname() reports a "2.6.x" release;
 *  - READ_IMPLIES_EXEC works: a new PROT_READ mapping is r-x in
 *    /proc/self/maps (a mapping made before the checkpoint too);
 *  - a forked child inherits the same personality.
 *
 * noauto: criu 4.2.1 does not restore the personality at all: every
 * restored task gets 0 (checked with UNAME26, ADDR_NO_RANDOMIZE,
 * READ_IMPLIES_EXEC, 0x8000 and 0x9 alone).  The dump side is broken too:
 * get_task_personality() parses /proc/PID/personality, which the kernel
 * prints as "%08x", with atoi(), so 0x460000 is stored in core.img as
 * 460000 (0x704e0) — wrong even if a restore applied it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef PERS
#define PERS (PER_LINUX | ADDR_NO_RANDOMIZE | UNAME26 | READ_IMPLIES_EXEC)
#endif

static int perms_of(void *addr, char *out)
{
	char *maps = read_file("/proc/self/maps", NULL), *line, *save = NULL;
	unsigned long a = (unsigned long)addr;
	int ret = -1;

	for (line = maps ? strtok_r(maps, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx %4s", &s, &e, out) == 3 && a >= s && a < e) {
			ret = 0;
			break;
		}
	}
	free(maps);
	return ret;
}

static int check(const char *who, void *old_map)
{
	struct utsname u;
	char perms[8];
	void *m;
	int p, ret = 0;

	p = personality(0xffffffff);
	if (p != PERS) {
		fail("%s: personality %#x, expected %#x", who, p, PERS);
		return 1;
	}
	if ((PERS & UNAME26) && (uname(&u) || strncmp(u.release, "2.6.", 4))) {
		fail("%s: uname release '%s' (UNAME26 should make it 2.6.x)", who, u.release);
		ret = 1;
	}
	if (!(PERS & READ_IMPLIES_EXEC))
		return ret;
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || perms_of(m, perms) || strcmp(perms, "r-xp")) {
		fail("%s: a new PROT_READ mapping is %s, not r-xp (READ_IMPLIES_EXEC)", who,
		     m == MAP_FAILED ? "?" : perms);
		ret = 1;
	}
	if (m != MAP_FAILED)
		munmap(m, 4096);
	if (old_map && (perms_of(old_map, perms) || strcmp(perms, "r-xp"))) {
		fail("%s: the PROT_READ mapping made before C/R is %s, not r-xp", who, perms);
		ret = 1;
	}
	return ret;
}

static int child(void *arg)
{
	return check("child", arg);
}

int main(int argc, char **argv)
{
	void *old;
	int ret = 0, code;
	pid_t pid;

	test_init(argc, argv);

	if (personality(PERS) < 0) {
		pr_perror("personality");
		return 1;
	}
	old = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (old == MAP_FAILED || check("test", old)) {
		pr_err("personality wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check("test", old);
	pid = test_fork_helper(child, old);
	code = wait_exit_code(pid);
	if (code) {
		fail("a child forked after restore has the wrong personality (exit code %d)", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
