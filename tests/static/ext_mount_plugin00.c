/*
 * ext_mount_plugin00: a bind mount whose source lies outside the test's
 * mount namespace, handled by a criu plugin (plugins/ext_mount_plugin00.c:
 * CR_PLUGIN_HOOK__DUMP_EXT_MOUNT / RESTORE_EXT_MOUNT) instead of
 * --external. The harness binds a host directory at /mnt/plugsrc (.desc
 * plugin_mounts) and does not tell criu about it: criu finds no root mount
 * for it and asks the plugins. The plugin finds the host directory behind
 * it at dump and binds it again at restore.
 *
 * After restore /mnt/plugsrc must again be a mount of that same host
 * directory: same device and inode, the same root in mountinfo, the
 * harness's marker file, a file written before the dump with its contents,
 * and an fd kept open on it still that file.
 *
 * ns/uns only: in h the test has no mount namespace of its own (criu
 * dumps no mounts, so the hook has nothing to do).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DIR "/mnt/plugsrc"

/* The root field of DIR's mountinfo line into root; 1 found, 0 not, -1 error. */
static int mount_root(char *root, size_t len)
{
	char *mi = read_file("/proc/self/mountinfo", NULL), *line, *save = NULL;
	int found = 0;

	if (!mi)
		return -1;
	for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char r[4096], mp[4096];

		if (sscanf(line, "%*d %*d %*s %4095s %4095s", r, mp) == 2 && !strcmp(mp, DIR)) {
			snprintf(root, len, "%s", r);
			found = 1;
		}
	}
	free(mi);
	return found;
}

static int file_is(const char *path, const char *want)
{
	char *text = read_file(path, NULL);
	int same = text && !strcmp(text, want);

	free(text);
	return same;
}

int main(int argc, char **argv)
{
	static const char data[] = "written into the plugin's mount before the dump\n";
	char root[4096], root2[4096];
	struct stat dir, dir2, f, f2;
	int fd, ret = 0;

	test_init(argc, argv);

	if (mount_root(root, sizeof(root)) != 1 || stat(DIR, &dir)) {
		pr_err("%s is not a mount", DIR);
		return 1;
	}
	fd = open(DIR "/before", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, sizeof(data) - 1) != sizeof(data) - 1 || fstat(fd, &f)) {
		pr_perror("writing %s/before", DIR);
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (mount_root(root2, sizeof(root2)) != 1) {
		fail("%s is not a mount after restore", DIR);
		return 1;
	}
	if (strcmp(root, root2)) {
		fail("%s is a mount of %s, was of %s", DIR, root2, root);
		ret = 1;
	}
	if (stat(DIR, &dir2) || dir2.st_dev != dir.st_dev || dir2.st_ino != dir.st_ino) {
		fail("%s is not the same host directory (dev/ino changed)", DIR);
		ret = 1;
	}
	if (!file_is(DIR "/zdtm-external", "plugsrc\n")) {
		fail("the harness's marker is not in %s", DIR);
		ret = 1;
	}
	if (!file_is(DIR "/before", data)) {
		fail("%s/before lost its contents", DIR);
		ret = 1;
	}
	if (fstat(fd, &f2) || f2.st_ino != f.st_ino || f2.st_dev != f.st_dev) {
		fail("the fd kept open is not %s/before any more", DIR);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
