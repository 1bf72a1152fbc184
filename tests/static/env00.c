/*
 * env00: the environment and the command line.  /proc/self/environ and
 * /proc/self/cmdline (the kernel's view, mm->env_* / arg_*) must be
 * byte-identical after restore, and the libc environment (with a variable
 * set at run time) must be intact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

#define VAR "ZDTM_ENV00_VAR"

static int check_proc(const char *path, const char *before, size_t before_len)
{
	size_t len;
	char *now = read_file(path, &len);

	if (!now) {
		fail("can't read %s", path);
		return -1;
	}
	if (len != before_len || memcmp(now, before, len)) {
		fail("%s changed: %zu bytes before, %zu now", path, before_len, len);
		free(now);
		return -1;
	}
	free(now);
	return 0;
}

int main(int argc, char **argv)
{
	char *environ_before, *cmdline_before, value[128];
	size_t env_len, cmd_len;
	const char *v;
	int i;

	test_init(argc, argv);

	snprintf(value, sizeof(value), "value-of-%d-with spaces=and=equals", (int)getpid());
	if (setenv(VAR, value, 1)) {
		pr_perror("setenv");
		return 1;
	}

	environ_before = read_file("/proc/self/environ", &env_len);
	cmdline_before = read_file("/proc/self/cmdline", &cmd_len);
	if (!environ_before || !cmdline_before) {
		pr_perror("can't read /proc/self/environ or cmdline");
		return 1;
	}
	if (!memmem(cmdline_before, cmd_len, "--pidfile=", 10)) {
		pr_err("/proc/self/cmdline has no --pidfile= before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (check_proc("/proc/self/environ", environ_before, env_len) ||
	    check_proc("/proc/self/cmdline", cmdline_before, cmd_len))
		return 1;

	/* argv in memory is what /proc shows */
	{
		size_t off = 0;

		for (i = 0; i < argc; i++) {
			size_t l = strlen(argv[i]) + 1;

			if (off + l > cmd_len || memcmp(cmdline_before + off, argv[i], l)) {
				fail("argv[%d] '%s' doesn't match /proc/self/cmdline", i, argv[i]);
				return 1;
			}
			off += l;
		}
	}

	v = getenv(VAR);
	if (!v || strcmp(v, value)) {
		fail("getenv(" VAR ") = '%s', expected '%s'", v ? v : "(null)", value);
		return 1;
	}
	/* a variable from the original environment block */
	if (getenv("PATH") && !memmem(environ_before, env_len, "PATH=", 5)) {
		fail("PATH in libc environment but not in /proc/self/environ");
		return 1;
	}
	pass();
	return 0;
}
