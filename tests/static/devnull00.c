/*
 * devnull00: memory character devices.
 *  - /dev/null open O_WRONLY|O_APPEND, /dev/zero O_RDONLY and O_RDWR (the
 *    latter backs the mappings), /dev/full O_RDWR (if the root has it);
 *  - a MAP_PRIVATE mapping of /dev/zero (anonymous private memory), filled
 *    with data except its last page, which is never touched;
 *  - a MAP_SHARED mapping of /dev/zero (shared anonymous memory), filled.
 * After restore: each fd is still the same device (rdev) with the same
 * flags and behaves like it (/dev/null swallows writes and reads EOF,
 * /dev/zero reads zeros, /dev/full fails writes with ENOSPC); the mappings
 * keep their data, the untouched page is still zero, the private mapping
 * is still private (a child's write does not show in the parent) and the
 * shared one still shared (a child's write does).
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MAP_LEN (16 * 4096)
#define PAGE 4096

static int check_dev(int fd, const char *path, unsigned int minor_nr, int accmode)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st)) {
		fail("fstat %s", path);
		return 1;
	}
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != minor_nr) {
		fail("the %s fd is now mode %#o rdev %u:%u, expected char 1:%u", path, st.st_mode,
		     major(st.st_rdev), minor(st.st_rdev), minor_nr);
		return 1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != accmode) {
		fail("%s flags changed: %#x", path, fl);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char *priv, *shared, buf[PAGE];
	uint32_t crc_p = ~0u, crc_s = ~0u;
	int null, zero, zrw, full, fl, ret = 0, code, i;
	pid_t pid;

	test_init(argc, argv);

	null = open("/dev/null", O_WRONLY | O_APPEND);
	zero = open("/dev/zero", O_RDONLY);
	zrw = open("/dev/zero", O_RDWR);
	if (null < 0 || zero < 0 || zrw < 0) {
		if (errno == ENOENT)
			skip("this root has no /dev/null or /dev/zero");
		pr_perror("open /dev/null, /dev/zero");
		return 1;
	}
	full = open("/dev/full", O_RDWR);
	if (full < 0)
		test_msg("no /dev/full here (%s): not checked", strerror(errno));

	priv = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, zrw, 0);
	shared = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, zrw, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED) {
		pr_perror("mmap /dev/zero");
		return 1;
	}
	datagen(priv, MAP_LEN - PAGE, &crc_p);
	datagen(shared, MAP_LEN, &crc_s);

	test_daemon();
	test_waitsig();
	errno = 0;

	ret |= check_dev(null, "/dev/null", 3, O_WRONLY);
	ret |= check_dev(zero, "/dev/zero", 5, O_RDONLY);
	ret |= check_dev(zrw, "/dev/zero", 5, O_RDWR);
	if (full >= 0)
		ret |= check_dev(full, "/dev/full", 7, O_RDWR);
	fl = fcntl(null, F_GETFL);
	if (fl < 0 || !(fl & O_APPEND)) {
		fail("/dev/null lost O_APPEND (%#x)", fl);
		ret = 1;
	}
	if (write(null, buf, sizeof(buf)) != sizeof(buf)) {
		fail("write to /dev/null");
		ret = 1;
	}
	memset(buf, 0xa5, sizeof(buf));
	if (read(zero, buf, sizeof(buf)) != sizeof(buf)) {
		fail("read /dev/zero");
		ret = 1;
	}
	for (i = 0; i < PAGE; i++)
		if (buf[i]) {
			fail("/dev/zero returned a non-zero byte");
			ret = 1;
			break;
		}
	if (full >= 0) {
		errno = 0;
		if (write(full, buf, 1) != -1 || errno != ENOSPC) {
			fail("a write to /dev/full did not fail with ENOSPC");
			ret = 1;
		}
		errno = 0;
	}

	crc_p = ~0u;
	if (datachk(priv, MAP_LEN - PAGE, &crc_p)) {
		fail("the private /dev/zero mapping lost its data");
		ret = 1;
	}
	for (i = MAP_LEN - PAGE; i < MAP_LEN; i++)
		if (priv[i]) {
			fail("the untouched page of the private mapping is not zero");
			ret = 1;
			break;
		}
	crc_s = ~0u;
	if (datachk(shared, MAP_LEN, &crc_s)) {
		fail("the shared /dev/zero mapping lost its data");
		ret = 1;
	}

	/* sharing semantics: a child writes to both mappings */
	pid = fork();
	if (pid < 0) {
		fail("fork");
		return 1;
	}
	if (pid == 0) {
		priv[0] ^= 0xff;
		shared[0] ^= 0xff;
		_exit(0);
	}
	code = wait_exit_code(pid);
	if (code) {
		fail("the child exited with %d", code);
		ret = 1;
	}
	crc_p = ~0u;
	if (datachk(priv, MAP_LEN - PAGE, &crc_p)) {
		fail("a child's write shows in the private mapping: it became shared");
		ret = 1;
	}
	crc_s = ~0u;
	if (!datachk(shared, MAP_LEN, &crc_s)) {
		fail("a child's write does not show in the shared mapping: it became private");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
