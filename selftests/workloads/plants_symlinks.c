/* An attacker in the workload's uid: once stopped, it replaces its output
 * file and its stdout file with symlinks to a root-only file, hoping root
 * reads it into the report. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	char path[4096], *out = NULL;
	int i;

	for (i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--outfile=", 10))
			out = argv[i] + 10;
	test_init(argc, argv);
	test_daemon();
	test_waitsig();
	snprintf(path, sizeof(path), "%s.inprogress", out);
	unlink(path);
	symlink("/etc/shadow", out);
	snprintf(path, sizeof(path), "%.*s.stdio", (int)(strlen(out) - 4), out);
	unlink(path);
	symlink("/etc/shadow", path);
	_exit(0);
}
