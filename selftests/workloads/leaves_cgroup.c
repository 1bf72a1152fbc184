/* A suid workload that makes a host cgroup named after itself and never
 * removes it; with --hang it does so while setting up, then never becomes
 * ready (a run killed while it waits). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "zdtmtst.h"

static bool hang;
TEST_OPTION(hang, bool, "make the cgroup, then never become ready", 0);

int main(int argc, char **argv)
{
	char path[256];

	test_init(argc, argv);
	snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/zdtm-%s-%d", hang ? "hangs" : "leaves", (int)getpid());
	if (mkdir(path, 0755) && errno != EEXIST) {
		pr_perror("mkdir %s", path);
		return 1;
	}
	if (hang)
		for (;;)
			pause();
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
