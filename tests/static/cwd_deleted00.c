/*
 * cwd_deleted00: the current working directory has been removed.  The test
 * makes a directory (--dirname, mode 0751), chdir()s into it and rmdir()s
 * it by its absolute path.
 * After restore: "." is still a directory with no links (nlink 0) and the
 * same mode, the path does not exist again, getcwd() fails with ENOENT,
 * /proc/self/cwd says "(deleted)", no file can be created in it, and ".."
 * is still the directory it was removed from.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

#define MODE 0751

int main(int argc, char **argv)
{
	char abs[PATH_MAX], parent[PATH_MAX], link[PATH_MAX + 32], *slash;
	struct stat st, st_parent, st_dotdot;
	ssize_t n;
	int ret = 0, fd;

	test_init(argc, argv);

	if (mkdir(dirname, MODE) || chmod(dirname, MODE)) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	if (!realpath(dirname, abs)) {
		pr_perror("realpath %s", dirname);
		return 1;
	}
	strcpy(parent, abs);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent) {
		pr_err("%s has no parent directory", abs);
		return 1;
	}
	*slash = '\0';
	if (stat(parent, &st_parent)) {
		pr_perror("stat %s", parent);
		return 1;
	}
	if (chdir(abs) || rmdir(abs)) {
		pr_perror("chdir/rmdir %s", abs);
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	if (stat(".", &st)) {
		fail("stat(\".\")");
		return 1;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_mode & 07777) != MODE) {
		fail("cwd mode is %#o, expected a directory with mode %#o", st.st_mode, MODE);
		ret = 1;
	}
	if (st.st_nlink != 0) {
		fail("cwd has %lu links, expected 0 (a removed directory)", (unsigned long)st.st_nlink);
		ret = 1;
	}
	if (access(abs, F_OK) == 0) {
		fail("%s exists again", abs);
		ret = 1;
	}
	errno = 0;
	if (getcwd(link, sizeof(link)) || errno != ENOENT) {
		fail("getcwd() does not fail with ENOENT (returned %s)", errno ? "an error" : link);
		ret = 1;
	}
	n = readlink("/proc/self/cwd", link, sizeof(link) - 1);
	if (n < 0) {
		fail("readlink /proc/self/cwd");
		ret = 1;
	} else {
		link[n] = '\0';
		if (n < 10 || strcmp(link + n - 10, " (deleted)")) {
			fail("/proc/self/cwd is \"%s\", not a deleted directory", link);
			ret = 1;
		}
	}
	errno = 0;
	fd = open("new-file", O_CREAT | O_WRONLY, 0600);
	if (fd >= 0 || errno != ENOENT) {
		fail("a file could be created in the removed cwd (fd %d)", fd);
		ret = 1;
	}
	if (stat("..", &st_dotdot)) {
		fail("stat(\"..\")");
		ret = 1;
	} else if (st_dotdot.st_dev != st_parent.st_dev || st_dotdot.st_ino != st_parent.st_ino) {
		fail("\"..\" of the cwd is no longer %s", parent);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
