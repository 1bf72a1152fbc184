/*
 * extfile_plugin00: an fd criu can't dump by itself, dumped and restored
 * by a criu plugin (CR_PLUGIN_HOOK__DUMP_EXT_FILE / RESTORE_EXT_FILE).
 *
 * The fd is /dev/cpu_dma_latency (PM QoS): while it is open it holds a
 * CPU latency request, whose value is what was last written to it; a read
 * returns the value in force (the minimum of all requests).  criu has no
 * support for this misc device and refuses to dump it ("Can't dump file
 * ... of that type"), but offers it to plugins.  The plugin
 * (plugins/extfile_plugin00.c) saves the value and the file status flags
 * in the images directory at dump and, at restore, opens the device again
 * and writes the value back, so that the request is in force again.
 *
 * The workload requests 123 us and sets O_NONBLOCK on the fd.  After
 * restore: the fd is the latency device, opened read-write, with
 * O_NONBLOCK, and the value in force is 123 again (the dumped task's
 * request died with it, so without the plugin's write the default would
 * be back); a new value written through the fd takes effect.
 *
 * It skips if another request is already in force (the value read back
 * before the checkpoint is not ours: the check could not tell).
 *
 * suid: /dev/cpu_dma_latency is root-only (0600).
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DEV "/dev/cpu_dma_latency"
#define REQ 123
#define REQ2 77

static int in_force(int fd, int32_t *v)
{
	return pread(fd, v, sizeof(*v), 0) == sizeof(*v) ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct stat st, dst;
	int32_t v = REQ;
	int fd, fl, ret = 0;

	test_init(argc, argv);

	fd = open(DEV, O_RDWR);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV)
			skip("no %s on this machine", DEV);
		pr_perror("open %s", DEV);
		return 1;
	}
	if (write(fd, &v, sizeof(v)) != sizeof(v) || in_force(fd, &v)) {
		pr_perror("setting a latency request");
		return 1;
	}
	if (v != REQ)
		skip("another CPU latency request (%d us) is in force: can't check ours", (int)v);
	if (set_nonblock(fd, 1) || stat(DEV, &dst)) {
		pr_perror("O_NONBLOCK / stat");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != dst.st_rdev) {
		fail("the fd is not %s any more", DEV);
		return 1;
	}
	fl = fcntl(fd, F_GETFL);
	if ((fl & O_ACCMODE) != O_RDWR || !(fl & O_NONBLOCK)) {
		fail("file flags %#x: expected O_RDWR | O_NONBLOCK", fl);
		ret = 1;
	}
	if (in_force(fd, &v)) {
		fail("can't read the latency in force through the fd (no active request?)");
		return 1;
	}
	if (v != REQ) {
		fail("latency in force is %d us, expected %d: the request was not restored", (int)v, REQ);
		ret = 1;
	}
	v = REQ2;
	if (write(fd, &v, sizeof(v)) != sizeof(v) || in_force(fd, &v) || v != REQ2) {
		fail("a new request written through the restored fd does not take effect (%d)", (int)v);
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
