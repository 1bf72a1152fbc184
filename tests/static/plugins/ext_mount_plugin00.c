/*
 * criu plugin for ext_mount_plugin00: a bind mount of a host directory at
 * /mnt/plugsrc in the test's mount namespace, which criu is not told about.
 *
 * DUMP_EXT_MOUNT(mountpoint, mnt_id): criu found no root mount for a bind
 * mount. Ours is /mnt/plugsrc (anything else: -ENOTSUP). Find the host
 * directory behind it: the mount's line in the mountinfo of a task that
 * sees it (mount ids are unique on the host) gives its device and its root
 * in that filesystem; a mount of that device in criu's own namespace whose
 * root contains it gives the host path. Saved as "ext-mount-<id>.img".
 *
 * RESTORE_EXT_MOUNT(mnt_id, mountpoint, old_root, is_file): bind the saved
 * host directory at the mountpoint criu gives. The images are read at init
 * in criu's main process (the hook may run inside the restored user
 * namespace, which cannot open root's images).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "criu-plugin.h"

#define OURS "/mnt/plugsrc"
#define MAX_MOUNTS 8

static struct saved {
	int mnt_id;
	char src[PATH_MAX];
} saved[MAX_MOUNTS];
static int nr_saved;

/* Fields of a mountinfo line: id, major:minor, root, mountpoint. */
static int parse_line(const char *line, int *id, unsigned *maj, unsigned *min, char *root, char *mp)
{
	return sscanf(line, "%d %*d %u:%u %4095s %4095s", id, maj, min, root, mp) == 5 ? 0 : -1;
}

/* The mountinfo line of mnt_id from any task that sees it. */
static int find_mount(int mnt_id, unsigned *maj, unsigned *min, char *root)
{
	char path[300], line[3 * PATH_MAX], mp[PATH_MAX];
	struct dirent *de;
	DIR *proc = opendir("/proc");
	int id, found = 0;

	while (proc && !found && (de = readdir(proc))) {
		FILE *mi;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/mountinfo", de->d_name);
		mi = fopen(path, "r");
		while (mi && !found && fgets(line, sizeof(line), mi))
			found = !parse_line(line, &id, maj, min, root, mp) && id == mnt_id;
		if (mi)
			fclose(mi);
	}
	if (proc)
		closedir(proc);
	return found ? 0 : -1;
}

/* The host path of root on device maj:min, from criu's own mounts. */
static int host_path(unsigned maj, unsigned min, const char *root, char *out)
{
	char line[3 * PATH_MAX], r[PATH_MAX], mp[PATH_MAX];
	FILE *mi = fopen("/proc/self/mountinfo", "r");
	size_t best = 0, rl;
	unsigned ma, mi_;
	int id;

	while (mi && fgets(line, sizeof(line), mi)) {
		if (parse_line(line, &id, &ma, &mi_, r, mp) || ma != maj || mi_ != min)
			continue;
		rl = strcmp(r, "/") ? strlen(r) : 0;
		if (strncmp(root, r, rl) || (root[rl] != '/' && root[rl] != '\0') || (best && rl < best))
			continue;
		if (strlen(mp) + strlen(root + rl) >= PATH_MAX)
			continue;
		best = rl ? rl : 1;
		strcpy(out, strcmp(mp, "/") ? mp : "");
		strcat(out, root + rl);
	}
	if (mi)
		fclose(mi);
	return best ? 0 : -1;
}

static int dump_ext_mount(char *mountpoint, int id)
{
	char root[PATH_MAX], src[PATH_MAX], name[64];
	unsigned maj, min;
	struct stat st;
	FILE *out;
	int img;

	/* criu names it relative to the namespace's root: ./mnt/plugsrc */
	if (strcmp(mountpoint + (mountpoint[0] == '.'), OURS))
		return -ENOTSUP;
	if (find_mount(id, &maj, &min, root) || host_path(maj, min, root, src)) {
		fprintf(stderr, "ext_mount_plugin00: can't find the host directory behind %s (%d)\n", mountpoint, id);
		return -1;
	}
	if (stat(src, &st) || !S_ISDIR(st.st_mode) || major(st.st_dev) != maj || minor(st.st_dev) != min) {
		fprintf(stderr, "ext_mount_plugin00: %s is not the directory behind %s\n", src, mountpoint);
		return -1;
	}
	snprintf(name, sizeof(name), "ext-mount-%d.img", id);
	img = openat(criu_get_image_dir(), name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	out = img < 0 ? NULL : fdopen(img, "w");
	if (!out || fprintf(out, "%s\n", src) < 0 || fclose(out)) {
		fprintf(stderr, "ext_mount_plugin00: can't write %s: %m\n", name);
		return -1;
	}
	fprintf(stderr, "ext_mount_plugin00: %s (%d) is a bind of the host's %s\n", mountpoint, id, src);
	return 0;
}

static int load_one(int dir, const char *name)
{
	struct saved *e = &saved[nr_saved];
	FILE *in;
	int fd;

	if (sscanf(name, "ext-mount-%d.img", &e->mnt_id) != 1)
		return 0;
	if (nr_saved == MAX_MOUNTS)
		return -1;
	fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	in = fd < 0 ? NULL : fdopen(fd, "r");
	if (!in || !fgets(e->src, sizeof(e->src), in)) {
		fprintf(stderr, "ext_mount_plugin00: can't read %s\n", name);
		return -1;
	}
	fclose(in);
	e->src[strcspn(e->src, "\n")] = '\0';
	nr_saved++;
	return 0;
}

static int init(int stage)
{
	struct dirent *de;
	DIR *d;
	int dir, ret = 0;

	if (stage != CR_PLUGIN_STAGE__RESTORE)
		return 0;
	dir = dup(criu_get_image_dir());
	d = dir < 0 ? NULL : fdopendir(dir);
	if (!d)
		return -1;
	while (!ret && (de = readdir(d)))
		ret = load_one(dirfd(d), de->d_name);
	closedir(d);
	return ret;
}

static void fini(int stage, int ret)
{
}

static int restore_ext_mount(int id, char *mountpoint, char *old_root, int *is_file)
{
	char src[2 * PATH_MAX];
	int i;

	for (i = 0; i < nr_saved; i++) {
		if (saved[i].mnt_id != id)
			continue;
		snprintf(src, sizeof(src), "%s%s", strcmp(old_root, "/") ? old_root : "", saved[i].src);
		if (mount(src, mountpoint, NULL, MS_BIND, NULL)) {
			fprintf(stderr, "ext_mount_plugin00: can't bind %s at %s: %m\n", src, mountpoint);
			return -1;
		}
		if (is_file)
			*is_file = 0;
		return 0;
	}
	return -ENOTSUP;
}

CR_PLUGIN_REGISTER("zdtm_ext_mount_plugin00", init, fini)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_MOUNT, dump_ext_mount)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_MOUNT, restore_ext_mount)
