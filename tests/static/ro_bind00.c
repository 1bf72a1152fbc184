/*
 * ro_bind00: read-only bind mounts in the test's own mount namespace
 * (mount(2): suid; flavors ns/uns only).
 *
 * rw_dir/ (a directory of the work dir) holds file f; it is bound at
 * ro_dir/ and that bind remounted read-only (MS_BIND|MS_REMOUNT|MS_RDONLY),
 * and the single file rw_dir/g is bound read-only onto the file ro_file.
 * An fd is kept open (O_RDONLY) on ro_dir/f.  After restore:
 *  - ro_dir and ro_file are still mount points with the "ro" per-mount
 *    option (mountinfo), and statvfs() says ST_RDONLY for them but not for
 *    rw_dir;
 *  - writing through the read-only paths fails with EROFS (creating
 *    ro_dir/new, opening ro_dir/f and ro_file for writing, mkdir,
 *    unlink);
 *  - rw_dir stays writable, and what is written there is seen through
 *    ro_dir and ro_file (the same files, not copies);
 *  - the fd open on ro_dir/f is on the read-only mount (fdinfo mnt_id)
 *    and reads the file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

static int check_ro_mount(const char *rel, struct nsu_mount *m)
{
	char path[PATH_MAX];
	struct statvfs sv;
	int n;

	if (nsu_abspath(rel, path, sizeof(path)))
		return 1;
	n = nsu_mount_at(path, m, NULL);
	if (n != 1) {
		fail("%d mounts at %s, expected the read-only bind", n, rel);
		return 1;
	}
	if (!nsu_has_opt(m->opts, "ro")) {
		fail("%s: mount options \"%s\": not read-only any more", rel, m->opts);
		return 1;
	}
	if (statvfs(rel, &sv) || !(sv.f_flag & ST_RDONLY)) {
		fail("statvfs(%s): no ST_RDONLY", rel);
		return 1;
	}
	return 0;
}

static int expect_erofs(const char *what, int r)
{
	if (r >= 0) {
		fail("%s succeeded on the read-only bind", what);
		return 1;
	}
	if (errno != EROFS) {
		fail("%s: expected EROFS", what);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char rw[PATH_MAX], ro[PATH_MAX], g[PATH_MAX], rofile[PATH_MAX], buf[64];
	struct nsu_mount mdir, mfile;
	struct statvfs sv;
	int fd, r, ret = 0;

	test_init(argc, argv);

	if (nsu_abspath("rw_dir", rw, sizeof(rw)) || nsu_abspath("ro_dir", ro, sizeof(ro)) ||
	    nsu_abspath("rw_dir/g", g, sizeof(g)) || nsu_abspath("ro_file", rofile, sizeof(rofile))) {
		pr_perror("getcwd");
		return 1;
	}
	if (mkdir(rw, 0755) || mkdir(ro, 0755) || nsu_put_file("rw_dir/f", "f before", 0) ||
	    nsu_put_file("rw_dir/g", "g before", 0) || nsu_put_file("ro_file", "", 0)) {
		pr_perror("preparing the directories");
		return 1;
	}
	if (mount(rw, ro, NULL, MS_BIND, NULL) || mount(NULL, ro, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) {
		pr_perror("read-only bind %s -> %s", rw, ro);
		return 1;
	}
	if (mount(g, rofile, NULL, MS_BIND, NULL) ||
	    mount(NULL, rofile, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) {
		pr_perror("read-only bind %s -> %s", g, rofile);
		return 1;
	}
	fd = open("ro_dir/f", O_RDONLY);
	if (fd < 0) {
		pr_perror("open ro_dir/f");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_ro_mount("ro_dir", &mdir);
	ret |= check_ro_mount("ro_file", &mfile);
	if (statvfs("rw_dir", &sv) || (sv.f_flag & ST_RDONLY)) {
		fail("rw_dir became read-only");
		ret = 1;
	}

	ret |= expect_erofs("creating ro_dir/new", open("ro_dir/new", O_WRONLY | O_CREAT, 0644));
	ret |= expect_erofs("opening ro_dir/f for writing", open("ro_dir/f", O_WRONLY));
	ret |= expect_erofs("opening ro_file for writing", open("ro_file", O_RDWR));
	ret |= expect_erofs("mkdir ro_dir/d", mkdir("ro_dir/d", 0755));
	ret |= expect_erofs("unlink ro_dir/g", unlink("ro_dir/g"));

	if (!nsu_file_is("ro_dir/f", "f before") || !nsu_file_is("ro_file", "g before")) {
		fail("the read-only binds do not show the files' contents");
		ret = 1;
	}
	if (nsu_put_file("rw_dir/f", "f after", 0) || nsu_put_file("rw_dir/g", "g after", 0) ||
	    nsu_put_file("rw_dir/h", "h", 0)) {
		fail("writing into rw_dir after restore");
		ret = 1;
	}
	if (!nsu_file_is("ro_dir/f", "f after") || !nsu_file_is("ro_dir/h", "h") ||
	    !nsu_file_is("ro_file", "g after")) {
		fail("the read-only binds do not show what is written into rw_dir");
		ret = 1;
	}

	if (!ret && nsu_fd_mnt_id(fd) != mdir.id) {
		fail("the fd opened through ro_dir is on mount %d, the read-only bind is %d", nsu_fd_mnt_id(fd),
		     mdir.id);
		ret = 1;
	}
	memset(buf, 0, sizeof(buf));
	r = pread(fd, buf, sizeof(buf) - 1, 0);
	if (r != (int)strlen("f after") || strcmp(buf, "f after")) {
		fail("the fd opened on ro_dir/f reads \"%s\"", buf);
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
