/*
 * memfd01: a write-sealed memfd that is mapped (read-only, MAP_SHARED).
 * The memfd gets 16 KB of data and F_SEAL_WRITE, then a read-only shared
 * mapping (allowed: the kernel clears VM_MAYWRITE on shared mappings of a
 * write-sealed memfd, so it can never become writable).
 * After restore: seals, data through read() and the mapping, write() and a
 * writable mmap() refused, and mprotect(PROT_WRITE) on the mapping refused.
 *
 * noauto: criu 4.2.1 can't restore this.  It maps every memfd mapping from
 * a read-write fd first and applies the seals afterwards
 * (apply_memfd_seals()), and F_SEAL_WRITE then fails with EBUSY because of
 * the (potentially writable) shared mapping:
 *   Error (criu/memfd.c:486): Cannot apply seals on memfd: Device or resource busy
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LEN (16 * 1024)

int main(int argc, char **argv)
{
	static unsigned char buf[LEN];
	unsigned char *m, *p;
	struct stat st;
	uint32_t crc;
	int fd, ret = 0, seals;

	test_init(argc, argv);

	fd = memfd_create("zdtm-memfd01", MFD_ALLOW_SEALING);
	if (fd < 0) {
		if (errno == ENOSYS)
			skip("memfd_create is not supported");
		pr_perror("memfd_create");
		return 1;
	}
	datagen2(buf, LEN, &crc);
	if (write_all(fd, buf, LEN) != LEN || fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)) {
		pr_perror("fill and seal the memfd");
		return 1;
	}
	m = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	if (mprotect(m, LEN, PROT_READ | PROT_WRITE) == 0 || errno != EACCES) {
		pr_err("the mapping of a write-sealed memfd can be made writable before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	seals = fcntl(fd, F_GET_SEALS);
	if (seals != F_SEAL_WRITE) {
		fail("seals %#x, expected F_SEAL_WRITE", seals);
		ret = 1;
	}
	if (fstat(fd, &st) || st.st_size != LEN) {
		fail("size changed");
		ret = 1;
	}
	if (pread(fd, buf, LEN, 0) != LEN || datachk2(buf, LEN, crc) || datachk2(m, LEN, crc)) {
		fail("data changed");
		ret = 1;
	}
	if (pwrite(fd, "x", 1, 0) == 1 || errno != EPERM) {
		fail("F_SEAL_WRITE not enforced on write()");
		ret = 1;
	}
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != EPERM) {
		fail("F_SEAL_WRITE not enforced on a writable mmap()");
		ret = 1;
	}
	if (mprotect(m, LEN, PROT_READ | PROT_WRITE) == 0 || errno != EACCES) {
		fail("the read-only mapping of the write-sealed memfd can be made writable");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
