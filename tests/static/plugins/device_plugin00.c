/*
 * criu plugin for device_plugin00: claims the test's mapping of a loop
 * block device (criu: "Can't handle non-regular mapping" without it), in
 * the pattern of criu's GPU plugins, and records every device hook it gets.
 *
 * Dump (one criu process): PAUSE_DEVICES(pid) and CHECKPOINT_DEVICES(pid)
 * are recorded; HANDLE_DEVICE_VMA(fd, st) claims a loop device (major 7)
 * and notes the file behind it (/sys/dev/block/M:m/loop/backing_file);
 * at the end (fini, success) the hooks seen and the devices go into
 * "device-plugin00.img".
 *
 * Restore: init reads the image in criu's main process and makes a shared
 * page that the restored tasks, forked from it, record into too.
 * UPDATE_VMA_MAP(path) (in the task) attaches the noted file to a free loop
 * device again (autoclear: it goes with the mapping) and hands its fd to
 * criu, page offset unchanged; POST_FORKING (criu) is recorded;
 * RESUME_DEVICES_LATE(pid) records itself and writes the receipt, the hooks
 * seen at dump and at restore, NUL-terminated, into the device's page at
 * RECEIPT_OFF, where the test reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "criu-plugin.h"

#define IMG "device-plugin00.img"
#define LOOP_MAJOR 7
#define RECEIPT_OFF (60 << 10)
#define SEQ_LEN 512

static char dump_seq[SEQ_LEN] = "dump:";
static int dev_minor = -1;		/* the one loop device we claim */
static char backing[1024];

static struct shared {			/* restore: shared with the forked tasks */
	unsigned len;
	int new_minor;
	char seq[SEQ_LEN];
} *sh;

static void note(const char *fmt, ...)
{
	char item[64];
	va_list ap;
	unsigned n, off;

	va_start(ap, fmt);
	n = vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	if (!sh) {
		strncat(dump_seq, item, sizeof(dump_seq) - strlen(dump_seq) - 1);
		return;
	}
	off = __atomic_fetch_add(&sh->len, n, __ATOMIC_SEQ_CST);
	if (off + n < sizeof(sh->seq))
		memcpy(sh->seq + off, item, n);
}

static int pause_devices(int pid)
{
	note(" PAUSE_DEVICES:%d", pid);
	return 0;
}

static int checkpoint_devices(int pid)
{
	note(" CHECKPOINT_DEVICES:%d", pid);
	return 0;
}

static int handle_device_vma(int fd, const struct stat *st)
{
	char path[128];
	FILE *f;

	if (!S_ISBLK(st->st_mode) || major(st->st_rdev) != LOOP_MAJOR)
		return -ENOTSUP;
	if (dev_minor >= 0 && dev_minor != (int)minor(st->st_rdev)) {
		fprintf(stderr, "device_plugin00: a second loop device, not ours\n");
		return -ENOTSUP;
	}
	dev_minor = minor(st->st_rdev);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", LOOP_MAJOR, dev_minor);
	f = fopen(path, "r");
	if (!f || !fgets(backing, sizeof(backing), f)) {
		fprintf(stderr, "device_plugin00: can't read %s: %m\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	backing[strcspn(backing, "\n")] = '\0';
	note(" HANDLE_DEVICE_VMA");
	return 0;
}

static int save(void)
{
	int fd = openat(criu_get_image_dir(), IMG, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *out = fd < 0 ? NULL : fdopen(fd, "w");

	if (!out || fprintf(out, "%s\n%d\n%s\n", dump_seq, dev_minor, backing) < 0 || fclose(out)) {
		fprintf(stderr, "device_plugin00: can't write %s: %m\n", IMG);
		return -1;
	}
	fprintf(stderr, "device_plugin00: %s; loop%d over %s\n", dump_seq, dev_minor, backing);
	return 0;
}

static int load(void)
{
	int fd = openat(criu_get_image_dir(), IMG, O_RDONLY | O_CLOEXEC);
	FILE *in = fd < 0 ? NULL : fdopen(fd, "r");
	char num[32];

	if (!in)	/* nothing of ours was dumped */
		return errno == ENOENT ? 0 : -1;
	if (!fgets(dump_seq, sizeof(dump_seq), in) || !fgets(num, sizeof(num), in) ||
	    !fgets(backing, sizeof(backing), in)) {
		fprintf(stderr, "device_plugin00: %s is truncated\n", IMG);
		fclose(in);
		return -1;
	}
	fclose(in);
	dump_seq[strcspn(dump_seq, "\n")] = '\0';
	backing[strcspn(backing, "\n")] = '\0';
	dev_minor = atoi(num);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		sh = NULL;
		return -1;
	}
	sh->new_minor = -1;
	strcpy(sh->seq, "restore:");
	sh->len = strlen(sh->seq);
	return 0;
}

static int init(int stage)
{
	return stage == CR_PLUGIN_STAGE__RESTORE ? load() : 0;
}

static void fini(int stage, int ret)
{
	if (stage == CR_PLUGIN_STAGE__DUMP && ret == 0 && dev_minor >= 0)
		save();
}

/* backing attached to a free loop device, autoclear; its fd. */
static int attach(int *nr)
{
	int file, ctl, dev = -1, tries;
	struct loop_config cfg = { .info.lo_flags = LO_FLAGS_AUTOCLEAR };
	char path[64];

	file = open(backing, O_RDWR | O_CLOEXEC);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	cfg.fd = file;
	for (tries = 0; file >= 0 && ctl >= 0 && tries < 100 && dev < 0; tries++) {
		*nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (*nr < 0)
			break;
		snprintf(path, sizeof(path), "/dev/loop%d", *nr);
		dev = open(path, O_RDWR | O_CLOEXEC);
		if (dev >= 0 && ioctl(dev, LOOP_CONFIGURE, &cfg)) {
			close(dev);
			dev = -1;
		}
	}
	if (dev < 0)
		fprintf(stderr, "device_plugin00: can't attach %s to a loop device: %m\n", backing);
	if (file >= 0)
		close(file);
	if (ctl >= 0)
		close(ctl);
	return dev;
}

static int update_vma_map(const char *path, const uint64_t addr, const uint64_t old_pgoff, uint64_t *new_pgoff,
			  int *plugin_fd)
{
	char ours[64];
	int nr, fd;

	snprintf(ours, sizeof(ours), "/dev/loop%d", dev_minor);
	if (!sh || dev_minor < 0 || strcmp(path + (path[0] != '/' ? 0 : 1), ours + 1))
		return -ENOTSUP;
	fd = attach(&nr);
	if (fd < 0)
		return -1;
	sh->new_minor = nr;
	*plugin_fd = fd;
	*new_pgoff = old_pgoff;
	note(" UPDATE_VMA_MAP");
	return 1;
}

static int post_forking(void)
{
	if (sh)
		note(" POST_FORKING");
	return 0;
}

static int resume_devices_late(int pid)
{
	char path[64], receipt[2 * SEQ_LEN + 4];
	int fd, n;

	if (!sh || sh->new_minor < 0)
		return -ENOTSUP;
	note(" RESUME_DEVICES_LATE:%d", pid);
	n = snprintf(receipt, sizeof(receipt), "%s\n%.*s\n", dump_seq, (int)sh->len, sh->seq);
	snprintf(path, sizeof(path), "/dev/loop%d", sh->new_minor);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, receipt, n + 1, RECEIPT_OFF) != n + 1) {
		fprintf(stderr, "device_plugin00: can't leave the receipt in %s: %m\n", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

CR_PLUGIN_REGISTER("zdtm_device_plugin00", init, fini)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__PAUSE_DEVICES, pause_devices)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__CHECKPOINT_DEVICES, checkpoint_devices)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA, handle_device_vma)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__UPDATE_VMA_MAP, update_vma_map)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__POST_FORKING, post_forking)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, resume_devices_late)
