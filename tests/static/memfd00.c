/*
 * memfd00: sealed memfds, as fds and as mappings.
 *  A: "zdtm-memfd-a", MFD_CLOEXEC, 64 KB of data, sealed SHRINK|GROW|SEAL,
 *     fd at offset 1234 and a MAP_SHARED read-write mapping.
 *  B: "zdtm-memfd-b", 16 KB of data, sealed WRITE (no more writes at all),
 *     fd only (a write-sealed memfd with a mapping: memfd01, noauto).
 *  D: "zdtm-memfd-d", a read-write MAP_SHARED mapping, then sealed
 *     FUTURE_WRITE (the existing mapping stays writable, nothing new is).
 *  C: "zdtm-memfd-c", only a MAP_SHARED mapping left (the fd is closed).
 * After restore: names (/proc/self/fd, /proc/self/maps), seals, sizes, fd
 * flags and offset, data through read() and through the mappings, the seals
 * enforced (ftruncate, growing write, write, new writable mmap all refused,
 * D's old mapping still writable and seen through read()),
 * and A's fd and mapping are still the same memory.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

#define A_LEN (64 * 1024)
#define B_LEN (16 * 1024)
#define C_LEN (8 * 4096)
#define A_OFF 1234
#define A_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define B_SEALS F_SEAL_WRITE
#define D_LEN (4 * 4096)
#define D_SEALS F_SEAL_FUTURE_WRITE

static int check_link(int fd, const char *name)
{
	char path[64], link[256], want[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		fail("readlink %s", path);
		return 1;
	}
	link[n] = '\0';
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	if (strcmp(link, want)) {
		fail("fd %d is '%s', expected '%s'", fd, link, want);
		return 1;
	}
	return 0;
}

static int check_mapping_name(void *addr, const char *name)
{
	char *maps = read_file("/proc/self/maps", NULL), want[128], *line, *save = NULL;
	unsigned long a = (unsigned long)addr;

	if (!maps) {
		fail("read /proc/self/maps");
		return 1;
	}
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && a >= s && a < e) {
			if (!strstr(line, want)) {
				fail("the mapping at %p is '%s', expected %s", addr, line, want);
				free(maps);
				return 1;
			}
			free(maps);
			return 0;
		}
	}
	fail("no mapping at %p", addr);
	free(maps);
	return 1;
}

static int check_size_seals(int fd, const char *what, off_t size, int seals)
{
	struct stat st;
	int s = fcntl(fd, F_GET_SEALS);

	if (s != seals) {
		fail("%s: seals %#x, expected %#x", what, s, seals);
		return 1;
	}
	if (fstat(fd, &st) || st.st_size != size) {
		fail("%s: size %ld, expected %ld", what, (long)st.st_size, (long)size);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char buf[A_LEN];
	unsigned char *ma, *mc, *md, *p;
	uint32_t crc_a, crc_b, crc_c, crc_d;
	int a, b, c, d, ret = 0, fl;

	test_init(argc, argv);

	a = memfd_create("zdtm-memfd-a", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	b = memfd_create("zdtm-memfd-b", MFD_ALLOW_SEALING);
	c = memfd_create("zdtm-memfd-c", 0);
	d = memfd_create("zdtm-memfd-d", MFD_ALLOW_SEALING);
	if (a < 0 || b < 0 || c < 0 || d < 0) {
		if (errno == ENOSYS)
			skip("memfd_create is not supported");
		pr_perror("memfd_create");
		return 1;
	}
	datagen2(buf, A_LEN, &crc_a);
	if (write_all(a, buf, A_LEN) != A_LEN || lseek(a, A_OFF, SEEK_SET) != A_OFF) {
		pr_perror("fill A");
		return 1;
	}
	ma = mmap(NULL, A_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	datagen2(buf, B_LEN, &crc_b);
	if (write_all(b, buf, B_LEN) != B_LEN) {
		pr_perror("fill B");
		return 1;
	}
	if (fcntl(b, F_ADD_SEALS, B_SEALS)) {
		pr_perror("F_ADD_SEALS B");
		return 1;
	}
	if (ftruncate(c, C_LEN)) {
		pr_perror("ftruncate C");
		return 1;
	}
	mc = mmap(NULL, C_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, c, 0);
	md = mmap(NULL, D_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0);
	if (ma == MAP_FAILED || mc == MAP_FAILED || md == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	datagen2(mc, C_LEN, &crc_c);
	close(c);
	if (ftruncate(d, D_LEN)) {
		pr_perror("ftruncate D");
		return 1;
	}
	datagen2(md, D_LEN, &crc_d);
	if (fcntl(d, F_ADD_SEALS, D_SEALS)) {
		if (errno == EINVAL)
			skip("F_SEAL_FUTURE_WRITE is not supported");
		pr_perror("F_ADD_SEALS D");
		return 1;
	}
	if (fcntl(a, F_ADD_SEALS, A_SEALS)) {
		pr_perror("F_ADD_SEALS");
		return 1;
	}

	test_daemon();
	test_waitsig();

	/* A */
	ret |= check_link(a, "zdtm-memfd-a") | check_mapping_name(ma, "zdtm-memfd-a");
	ret |= check_size_seals(a, "A", A_LEN, A_SEALS);
	fl = fcntl(a, F_GETFD);
	if (fl != FD_CLOEXEC) {
		fail("A: fd flags %#x, expected FD_CLOEXEC", fl);
		ret = 1;
	}
	if (lseek(a, 0, SEEK_CUR) != A_OFF) {
		fail("A: offset %ld, expected %d", (long)lseek(a, 0, SEEK_CUR), A_OFF);
		ret = 1;
	}
	if (pread(a, buf, A_LEN, 0) != A_LEN || datachk2(buf, A_LEN, crc_a)) {
		fail("A: data read through the fd changed");
		ret = 1;
	}
	if (datachk2(ma, A_LEN, crc_a)) {
		fail("A: data in the mapping changed");
		ret = 1;
	}
	ma[100] ^= 0xff;
	if (pread(a, buf, 1, 100) != 1 || buf[0] != ma[100]) {
		fail("A: a write to the mapping is not seen through the fd");
		ret = 1;
	}
	if (ftruncate(a, A_LEN / 2) == 0 || errno != EPERM) {
		fail("A: F_SEAL_SHRINK not enforced");
		ret = 1;
	}
	if (pwrite(a, "x", 1, A_LEN) == 1 || errno != EPERM) {
		fail("A: F_SEAL_GROW not enforced");
		ret = 1;
	}
	if (fcntl(a, F_ADD_SEALS, F_SEAL_WRITE) == 0 || errno != EPERM) {
		fail("A: F_SEAL_SEAL not enforced");
		ret = 1;
	}
	if (pwrite(a, "y", 1, 200) != 1 || ma[200] != 'y') {
		fail("A: writing inside the file does not work or is not seen in the mapping");
		ret = 1;
	}

	/* B */
	ret |= check_link(b, "zdtm-memfd-b");
	ret |= check_size_seals(b, "B", B_LEN, B_SEALS);
	if (fcntl(b, F_GETFD) != 0) {
		fail("B: fd flags %#x, expected 0", fcntl(b, F_GETFD));
		ret = 1;
	}
	if (pread(b, buf, B_LEN, 0) != B_LEN || datachk2(buf, B_LEN, crc_b)) {
		fail("B: data changed");
		ret = 1;
	}
	if (pwrite(b, "x", 1, 0) == 1 || errno != EPERM) {
		fail("B: F_SEAL_WRITE not enforced on write()");
		ret = 1;
	}
	p = mmap(NULL, B_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	if (p != MAP_FAILED || errno != EPERM) {
		fail("B: F_SEAL_WRITE not enforced on a writable mmap()");
		ret = 1;
	}
	if (p != MAP_FAILED)
		munmap(p, B_LEN);

	/* C */
	ret |= check_mapping_name(mc, "zdtm-memfd-c");
	if (datachk2(mc, C_LEN, crc_c)) {
		fail("C: data in the fd-less mapping changed");
		ret = 1;
	}
	/* D */
	ret |= check_link(d, "zdtm-memfd-d") | check_mapping_name(md, "zdtm-memfd-d");
	ret |= check_size_seals(d, "D", D_LEN, D_SEALS);
	if (datachk2(md, D_LEN, crc_d)) {
		fail("D: data in the mapping changed");
		ret = 1;
	}
	if (pwrite(d, "x", 1, 0) == 1 || errno != EPERM) {
		fail("D: F_SEAL_FUTURE_WRITE not enforced on write()");
		ret = 1;
	}
	p = mmap(NULL, D_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0);
	if (p != MAP_FAILED || errno != EPERM) {
		fail("D: F_SEAL_FUTURE_WRITE not enforced on a new writable mmap()");
		ret = 1;
	}
	if (p != MAP_FAILED)
		munmap(p, D_LEN);
	md[10] ^= 0xff;
	if (pread(d, buf, 1, 10) != 1 || buf[0] != md[10]) {
		fail("D: the old writable mapping is not shared with the memfd any more");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
