/*
 * maps00: memory mappings.  An anonymous private mapping, a MAP_SHARED
 * anonymous mapping (shared with a forked helper) and a file-backed
 * MAP_SHARED mapping of --filename, all filled with datagen().  After
 * restore: contents (datachk), protections (/proc/self/maps), the sharing
 * with the helper and the file's contents through read() are checked.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file for the file-backed mapping", 1);

#define PRIV_LEN (64 * 4096)
#define SHANON_LEN (16 * 4096)
#define FILE_LEN (32 * 4096)
#define MARK_OFF 100 /* in the last page of the shared anon area, outside the data */

static task_waiter_t tw;
static unsigned char *shanon;

static int helper(void *arg)
{
	uint32_t crc = ~0u;

	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	/* after restore: the helper sees the same data ... */
	if (datachk(shanon, SHANON_LEN - 4096, &crc)) {
		fail("helper: shared anonymous data corrupted");
		return 1;
	}
	/* ... and the parent sees what the helper writes */
	strcpy((char *)shanon + SHANON_LEN - 4096 + MARK_OFF, "written by the helper");
	task_complete(&tw, 3);
	return 0;
}

static int check_prot(void *addr, const char *perms)
{
	char *maps = read_file("/proc/self/maps", NULL), *line, *save = NULL;
	unsigned long a = (unsigned long)addr;

	if (!maps) {
		fail("can't read /proc/self/maps");
		return -1;
	}
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long start, end;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &start, &end, p) != 3)
			continue;
		if (a >= start && a < end) {
			if (strcmp(p, perms)) {
				fail("mapping at %p has perms %s, expected %s", addr, p, perms);
				free(maps);
				return -1;
			}
			free(maps);
			return 0;
		}
	}
	fail("no mapping at %p any more", addr);
	free(maps);
	return -1;
}

int main(int argc, char **argv)
{
	static unsigned char fbuf[FILE_LEN];
	unsigned char *priv, *fmap, *ro;
	uint32_t crc;
	pid_t pid;
	int fd, ret;

	test_init(argc, argv);

	priv = mmap(NULL, PRIV_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shanon = mmap(NULL, SHANON_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (priv == MAP_FAILED || shanon == MAP_FAILED || ro == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	fd = open(filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, FILE_LEN)) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	fmap = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fmap == MAP_FAILED) {
		pr_perror("mmap %s", filename);
		return 1;
	}
	close(fd); /* the mapping alone keeps the file */

	crc = ~0u;
	datagen(priv, PRIV_LEN, &crc);
	crc = ~0u;
	datagen(shanon, SHANON_LEN - 4096, &crc);
	crc = ~0u;
	datagen(fmap, FILE_LEN, &crc);
	crc = ~0u;
	datagen(ro, 4 * 4096, &crc);
	if (mprotect(ro, 4 * 4096, PROT_READ)) {
		pr_perror("mprotect");
		return 1;
	}

	if (task_waiter_init(&tw))
		return 1;
	pid = test_fork_helper(helper, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	task_wait(&tw, 1);

	test_daemon();
	test_waitsig();

	ret = 0;
	crc = ~0u;
	if (datachk(priv, PRIV_LEN, &crc)) {
		fail("private anonymous data corrupted");
		ret = 1;
	}
	crc = ~0u;
	if (datachk(shanon, SHANON_LEN - 4096, &crc)) {
		fail("shared anonymous data corrupted");
		ret = 1;
	}
	crc = ~0u;
	if (datachk(fmap, FILE_LEN, &crc)) {
		fail("file-backed shared data corrupted");
		ret = 1;
	}
	crc = ~0u;
	if (datachk(ro, 4 * 4096, &crc)) {
		fail("read-only private data corrupted");
		ret = 1;
	}
	if (check_prot(priv, "rw-p") || check_prot(shanon, "rw-s") || check_prot(fmap, "rw-s") ||
	    check_prot(ro, "r--p"))
		ret = 1;

	/* the file behind the mapping has the same bytes */
	fd = open(filename, O_RDONLY);
	if (fd < 0 || read_all(fd, fbuf, FILE_LEN) != FILE_LEN) {
		fail("can't read back %s", filename);
		ret = 1;
	} else if (memcmp(fbuf, fmap, FILE_LEN)) {
		fail("%s differs from its shared mapping", filename);
		ret = 1;
	}
	if (fd >= 0)
		close(fd);
	/* still shared with the file: a write shows through read() */
	fmap[10] ^= 0xff;
	fd = open(filename, O_RDONLY);
	if (fd < 0 || pread(fd, fbuf, 16, 0) != 16 || fbuf[10] != fmap[10]) {
		fail("the file mapping is no longer MAP_SHARED with %s", filename);
		ret = 1;
	}
	if (fd >= 0)
		close(fd);

	/* still shared with the helper */
	task_complete(&tw, 2);
	task_wait(&tw, 3);
	if (strcmp((char *)shanon + SHANON_LEN - 4096 + MARK_OFF, "written by the helper")) {
		fail("the anonymous shared mapping is no longer shared with the helper");
		ret = 1;
	}
	if (wait_exit_code(pid) != 0) {
		fail("the helper failed");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
