/* A suid workload that mounts a tmpfs in its work dir and never unmounts it. */
#include <sys/mount.h>
#include <sys/stat.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (mkdir("leaked", 0755) || mount("zdtm-leak", "leaked", "tmpfs", 0, NULL)) {
		pr_perror("mount a tmpfs on ./leaked");
		return 1;
	}
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
