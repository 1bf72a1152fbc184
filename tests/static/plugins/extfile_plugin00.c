/*
 * criu plugin for extfile_plugin00: dumps and restores an open
 * /dev/cpu_dma_latency (a PM QoS CPU latency request), a device criu
 * itself does not know.
 *
 * DUMP_EXT_FILE(fd, id): if fd is the cpu_dma_latency device, save the
 * request's value (what a read returns: the value in force) and the file
 * status flags into "cpu-dma-latency-<id>.img" in the images directory
 * (criu_get_image_dir()); any other file: -ENOTSUP (not ours).
 *
 * RESTORE_EXT_FILE(id): no such image file: -ENOTSUP; else open the
 * device with the saved flags, write the value back (which re-creates the
 * request) and return the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu-plugin.h"

#define DEV "/dev/cpu_dma_latency"
#define MAGIC 0x7a64746dU /* "zdtm" */

struct saved {
	uint32_t magic;
	int32_t value;
	int32_t flags;
};

static void img_name(char *buf, size_t len, int id)
{
	snprintf(buf, len, "cpu-dma-latency-%#x.img", (unsigned)id);
}

static int dump_ext_file(int fd, int id)
{
	struct stat st, dst;
	struct saved s = { .magic = MAGIC };
	char name[64];
	int dir, out, fl;

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) || stat(DEV, &dst) || st.st_rdev != dst.st_rdev)
		return -ENOTSUP;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || pread(fd, &s.value, sizeof(s.value), 0) != sizeof(s.value)) {
		fprintf(stderr, "extfile_plugin00: can't read the latency request of %#x: %m\n", id);
		return -1;
	}
	s.flags = fl;
	dir = criu_get_image_dir();
	img_name(name, sizeof(name), id);
	out = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || write(out, &s, sizeof(s)) != sizeof(s)) {
		fprintf(stderr, "extfile_plugin00: can't write %s: %m\n", name);
		if (out >= 0)
			close(out);
		return -1;
	}
	close(out);
	fprintf(stderr, "extfile_plugin00: dumped %#x: %s, %d us, flags %#x\n", id, DEV, (int)s.value, fl);
	return 0;
}

static int restore_ext_file(int id)
{
	struct saved s;
	char name[64];
	int in, fd;

	img_name(name, sizeof(name), id);
	in = openat(criu_get_image_dir(), name, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? -ENOTSUP : -1;
	if (read(in, &s, sizeof(s)) != sizeof(s) || s.magic != MAGIC) {
		fprintf(stderr, "extfile_plugin00: %s is corrupted\n", name);
		close(in);
		return -1;
	}
	close(in);
	fd = open(DEV, s.flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY));
	if (fd < 0) {
		fprintf(stderr, "extfile_plugin00: can't open %s: %m\n", DEV);
		return -1;
	}
	if (write(fd, &s.value, sizeof(s.value)) != sizeof(s.value)) {
		fprintf(stderr, "extfile_plugin00: can't set the latency request: %m\n");
		close(fd);
		return -1;
	}
	/* Nothing printed on success: at this point stderr is the restored
	 * task's own, and the harness checks its offset did not move. */
	return fd;
}

CR_PLUGIN_REGISTER_DUMMY("zdtm_extfile_plugin00")
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, dump_ext_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, restore_ext_file)
