/*
 * cwd00: the current working directory, a directory made via --dirname.
 * After restore: getcwd() and the identity (dev/ino) of "." are unchanged,
 * and a file created there relative to the cwd lands in that directory.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

int main(int argc, char **argv)
{
	char cwd_before[PATH_MAX], cwd[PATH_MAX], *real;
	struct stat st_before, st, st_dir;
	int ret = 0, fd;

	test_init(argc, argv);

	if (mkdir(dirname, 0700)) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	real = realpath(dirname, NULL);
	if (!real || chdir(dirname) || !getcwd(cwd_before, sizeof(cwd_before)) ||
	    stat(".", &st_before)) {
		pr_perror("can't enter %s", dirname);
		return 1;
	}
	if (strcmp(real, cwd_before)) {
		pr_err("getcwd() is %s, expected %s", cwd_before, real);
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (!getcwd(cwd, sizeof(cwd))) {
		fail("getcwd");
		return 1;
	}
	if (strcmp(cwd, cwd_before)) {
		fail("cwd is %s, expected %s", cwd, cwd_before);
		ret = 1;
	}
	if (stat(".", &st) || stat(real, &st_dir)) {
		fail("stat");
		return 1;
	}
	if (st.st_ino != st_before.st_ino || st.st_dev != st_before.st_dev ||
	    st.st_ino != st_dir.st_ino || st.st_dev != st_dir.st_dev) {
		fail("\".\" is no longer %s", real);
		ret = 1;
	}
	fd = open("probe", O_CREAT | O_WRONLY | O_EXCL, 0600);
	if (fd < 0) {
		fail("can't create a file in the cwd");
		ret = 1;
	} else {
		char path[PATH_MAX + 8];

		close(fd);
		snprintf(path, sizeof(path), "%s/probe", real);
		if (access(path, F_OK)) {
			fail("a file created in the cwd is not in %s", real);
			ret = 1;
		}
		unlink("probe");
	}
	if (!ret)
		pass();
	return ret;
}
