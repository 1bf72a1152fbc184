/*
 * device_plugin00: a mapping of a device that criu cannot dump, claimed by
 * our own criu plugin (plugins/device_plugin00.c), in the pattern of criu's
 * GPU plugins: HANDLE_DEVICE_VMA, PAUSE_DEVICES, CHECKPOINT_DEVICES at
 * dump; POST_FORKING, UPDATE_VMA_MAP, RESUME_DEVICES_LATE at restore.
 *
 * The device is a loop block device over a file in the work dir, attached
 * with autoclear, mapped MAP_SHARED and then closed: the mapping alone keeps
 * it, so it goes away with the dumped tree, as a GPU context would. criu
 * does not dump the contents of a plugin's mapping: what the test wrote
 * into it comes back only because the plugin attaches the file again to a
 * (possibly other) loop device and hands that to criu (UPDATE_VMA_MAP).
 *
 * After restore: the mapping is at the same address, backed by a loop
 * device over the same file, with the data written before the dump; a
 * write through it reaches the file. The plugin leaves a receipt in the
 * device's last page at RESUME_DEVICES_LATE: the hooks it saw, in order,
 * with the pids they were called for; the test checks the order (dump:
 * PAUSE_DEVICES, CHECKPOINT_DEVICES for this pid, then HANDLE_DEVICE_VMA;
 * restore: POST_FORKING and UPDATE_VMA_MAP, both before
 * RESUME_DEVICES_LATE for this pid).
 *
 * suid (loop devices are root's), h only: the ns flavors' /dev has no loop
 * devices, and a user namespace cannot attach one.
 */
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MAP_LEN (64 << 10)
#define DATA_LEN (32 << 10)
#define RECEIPT_OFF (60 << 10)	/* the plugin's page, see the plugin */
#define LATE_MARK 0x5a

static char *filename;
TEST_OPTION(filename, string, "the file behind the loop device", 1);

/* A free loop device attached to the file, autoclear: its fd (number in *nr). */
static int attach(int backing, int *nr)
{
	struct loop_config cfg = { .fd = backing, .info.lo_flags = LO_FLAGS_AUTOCLEAR };
	int ctl, dev = -1, tries;
	char path[64];

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	for (tries = 0; tries < 100 && dev < 0; tries++) {
		*nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (*nr < 0)
			break;
		snprintf(path, sizeof(path), "/dev/loop%d", *nr);
		dev = open(path, O_RDWR | O_CLOEXEC);
		if (dev >= 0 && ioctl(dev, LOOP_CONFIGURE, &cfg)) {
			close(dev);	/* taken meanwhile (EBUSY): another one */
			dev = -1;
		}
	}
	close(ctl);
	return dev;
}

/* Which loop device backs addr in /proc/self/maps (by its path): its number, or -1. */
static int mapped_loop(void *addr)
{
	char *maps = read_file("/proc/self/maps", NULL), *line, *save = NULL;
	unsigned long start;
	int nr, found = -1;

	for (line = maps ? strtok_r(maps, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%lx-%*x %*s %*x %*x:%*x %*u /dev/loop%d", &start, &nr) == 2 &&
		    start == (unsigned long)addr)
			found = nr;
	free(maps);
	return found;
}

static int check_receipt(const char *receipt, int pid)
{
	char want[256], either[256];

	/* POST_FORKING (criu) and UPDATE_VMA_MAP (the task) run side by side */
	snprintf(want, sizeof(want), "dump: PAUSE_DEVICES:%d CHECKPOINT_DEVICES:%d HANDLE_DEVICE_VMA\n"
		 "restore: POST_FORKING UPDATE_VMA_MAP RESUME_DEVICES_LATE:%d\n", pid, pid, pid);
	snprintf(either, sizeof(either), "dump: PAUSE_DEVICES:%d CHECKPOINT_DEVICES:%d HANDLE_DEVICE_VMA\n"
		 "restore: UPDATE_VMA_MAP POST_FORKING RESUME_DEVICES_LATE:%d\n", pid, pid, pid);
	if (strcmp(receipt, want) && strcmp(receipt, either)) {
		fail("the plugin saw the hooks as '%s', expected '%s' (or POST_FORKING after UPDATE_VMA_MAP)",
		     receipt, want);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t crc = ~0u;
	char *map, check[8];
	int backing, dev, nr, minor_after, ret = 0;

	test_init(argc, argv);

	backing = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (backing < 0 || ftruncate(backing, MAP_LEN)) {
		pr_perror("creating %s", filename);
		return 1;
	}
	dev = attach(backing, &nr);
	if (dev < 0) {
		if (access("/dev/loop-control", F_OK))
			skip("no /dev/loop-control on this machine");
		pr_perror("attaching %s to a loop device", filename);
		return 1;
	}
	map = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, dev, 0);
	if (map == MAP_FAILED) {
		pr_perror("mmap of /dev/loop%d", nr);
		return 1;
	}
	close(dev);	/* the mapping alone keeps the device */
	close(backing);
	datagen(map, DATA_LEN, &crc);
	if (msync(map, MAP_LEN, MS_SYNC)) {
		pr_perror("msync");
		return 1;
	}

	test_daemon();
	test_waitsig();

	minor_after = mapped_loop(map);
	if (minor_after < 0) {
		fail("%p is not a mapping of a loop device any more", map);
		return 1;
	}
	crc = ~0u;
	if (datachk(map, DATA_LEN, &crc)) {
		fail("the data in the device mapping changed (loop%d, now loop%d)", nr, minor_after);
		ret = 1;
	}
	map[MAP_LEN - 1] = '\0';
	if (check_receipt(map + RECEIPT_OFF, getpid()))
		ret = 1;
	/* A write through the restored mapping reaches the file. */
	map[DATA_LEN] = LATE_MARK;
	backing = open(filename, O_RDONLY | O_CLOEXEC);
	if (msync(map, MAP_LEN, MS_SYNC) || backing < 0 || pread(backing, check, 1, DATA_LEN) != 1 ||
	    check[0] != LATE_MARK) {
		fail("a write through the restored mapping does not reach %s", filename);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
