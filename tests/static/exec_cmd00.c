/*
 * exec_cmd00: criu restore --exec-cmd. After restoring, criu execs the
 * given command, which becomes the restored tree's parent (the harness gives
 * its reaper, `nsinit --reap`). Before the dump our parent is the harness;
 * after the restore it must be that command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

static int parent_cmdline(char *buf, size_t len)
{
	char path[64];
	size_t n, i;
	char *s;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)getppid());
	s = read_file(path, &n);
	if (!s)
		return -1;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	for (i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = 0;
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	char before[4096], after[4096];

	test_init(argc, argv);
	if (parent_cmdline(before, sizeof(before))) {
		pr_perror("reading the parent's cmdline");
		return 1;
	}
	test_daemon();
	test_waitsig();
	if (parent_cmdline(after, sizeof(after))) {
		fail("can't read the parent's cmdline after restore");
		return 1;
	}
	if (!strstr(after, "--reap")) {
		fail("parent after restore is '%s' (before: '%s'), not the --exec-cmd command", after, before);
		return 1;
	}
	test_msg("parent after restore: %s", after);
	pass();
	return 0;
}
