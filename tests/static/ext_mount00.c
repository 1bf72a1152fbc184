/*
 * ext_mount00: an external bind mount (criu --external mnt[...]). The
 * harness binds a host directory at /mnt/ext0 inside the test's mount
 * namespace and tells criu it is external (dump: mnt[/mnt/ext0]:ext0,
 * restore: mnt[ext0]:<host dir>). After restore /mnt/ext0 must again be a
 * mount of that same host directory: the harness's marker file is there, a
 * file we created before the dump is there with its contents, and an fd we
 * kept open on it still refers to it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DIR "/mnt/ext0"

static int is_mountpoint(const char *path)
{
	char *mi = read_file("/proc/self/mountinfo", NULL), *line, *save = NULL;
	int found = 0;

	if (!mi)
		return -1;
	for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char mp[4096];

		if (sscanf(line, "%*d %*d %*s %*s %4095s", mp) == 1 && !strcmp(mp, path))
			found = 1;
	}
	free(mi);
	return found;
}

int main(int argc, char **argv)
{
	static const char data[] = "written into the external mount before the dump\n";
	struct stat st_before, st_after;
	char buf[sizeof(data)] = "";
	int fd;

	test_init(argc, argv);
	if (access(DIR "/zdtm-external", R_OK)) {
		pr_perror("the harness's marker in " DIR);
		return 1;
	}
	if (is_mountpoint(DIR) != 1) {
		pr_err(DIR " is not a mount point");
		return 1;
	}
	fd = open(DIR "/mine", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data) || fstat(fd, &st_before)) {
		pr_perror("writing " DIR "/mine");
		return 1;
	}
	test_daemon();
	test_waitsig();

	if (is_mountpoint(DIR) != 1)
		fail(DIR " is no longer a mount point");
	else if (access(DIR "/zdtm-external", R_OK))
		fail("the harness's marker is gone from " DIR);
	else if (fstat(fd, &st_after) || st_after.st_ino != st_before.st_ino || st_after.st_dev != st_before.st_dev)
		fail("the open fd no longer refers to " DIR "/mine");
	else if (pread(fd, buf, sizeof(buf) - 1, 0) != (ssize_t)strlen(data) || strcmp(buf, data))
		fail(DIR "/mine lost its contents: '%s'", buf);
	else
		pass();
	return 0;
}
