/*
 * nsinit: starts an unmodified protocol workload inside fresh namespaces,
 * under an init process (pid 1) that criu dumps and restores with the tree.
 *
 *   nsinit --root=DIR --init-pidfile=FILE --test-pidfile=FILE
 *          [--userns] [--uid-map=...] [--gid-map=...] [--bind=SRC:DST[:ro|:rec]]...
 *          [--hostname=NAME] [--drop-ids] [--enter=NSFILE] [--own-root]
 *          [--host-stage=NAME=VALUE] [--cwd=DIR] [--etc-links=DIR] [--timens] -- WORKLOAD ARGV...
 *   nsinit --hold [--kdat-run[=FILE]]    (a test's own mount namespace)
 *   nsinit --enter=NSFILE -- CMD...      (run CMD in that namespace)
 *
 * The outer process clones the init into new pid, mount, net, ipc and uts
 * namespaces (plus a user namespace with --userns, whose maps it writes from
 * outside), waits until the workload's own launcher has exited and exits with
 * its status, after writing the init's host pid to --init-pidfile: so for the
 * harness, as for any protocol launcher, "exit 0" means "ready".
 *
 * The outer process binds DIR onto itself (read-only) and the --bind sources
 * into it in a mount namespace of its own; the init (whose mount namespace is
 * a copy of that) mounts /proc, a new devpts and a tmpfs /tmp, pivots into
 * DIR, brings up lo, then runs the workload's launcher. It stays as the reaper of the tree
 * and exits when the test process (read from --test-pidfile) is gone.
 *
 * Upstream's tests (zdtm.py's convention) get more: a root of their own
 * (--own-root: writable, bound with what is mounted under it), a mount
 * namespace of their own standing for the one criu and zdtm.py run in
 * (--hold makes it, --enter joins it), and their "host stage" (--host-stage):
 * upstream starts each test binary there with ZDTM_NEWNS=1, it may mount
 * things (the sources of external mounts) and bind them into the root, then
 * clones itself into new namespaces. We run it once that way, stop it at that
 * clone and go on from the mount namespace it left. Their init also makes a
 * time namespace (--timens: monotonic +10 days, boottime +20, as upstream's
 * ns init), owned by the test's user namespace, so a test may leave it for a
 * nested one and come back (timens_nested).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#define MAX_BINDS 16

struct bind {
	char *src, *dst;
	int ro, rec;
};

static struct {
	char *root, *init_pidfile, *test_pidfile, *hostname;
	char *uid_map, *gid_map, *enter, *host_stage, *cwd, *etc_links, *kdat;
	int kdat_run;
	int userns, drop_ids, stage2, sync_fd, hold, own_root, timens;
	struct bind binds[MAX_BINDS];
	int nr_binds;
	char **argv;
	int sync[2];	/* outer <-> init: maps written, then launcher status */
} cfg;

static void die(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	fprintf(stderr, "nsinit: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fprintf(stderr, "\n");
	_exit(120);
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		die("writing %s", path);
	close(fd);
}

/* "a b c,d e f" -> lines, as /proc/PID/uid_map wants them */
static char *map_lines(const char *spec)
{
	char *out = strdup(spec), *p;

	for (p = out; *p; p++)
		if (*p == ',')
			*p = '\n';
	return out;
}

static void parse(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *a = argv[i];

		if (!strcmp(a, "--")) {
			cfg.argv = argv + i + 1;
			break;
		}
#define OPT(name, field) if (!strncmp(a, "--" name "=", strlen(name) + 3)) { field = a + strlen(name) + 3; continue; }
		OPT("root", cfg.root);
		OPT("init-pidfile", cfg.init_pidfile);
		OPT("test-pidfile", cfg.test_pidfile);
		OPT("hostname", cfg.hostname);
		OPT("uid-map", cfg.uid_map);
		OPT("gid-map", cfg.gid_map);
		OPT("enter", cfg.enter);
		OPT("host-stage", cfg.host_stage);
		OPT("cwd", cfg.cwd);
		OPT("etc-links", cfg.etc_links);
#undef OPT
		if (!strcmp(a, "--kdat-run") || !strncmp(a, "--kdat-run=", 11)) {
			cfg.kdat_run = 1;
			cfg.kdat = a[10] == '=' ? a + 11 : NULL;
			continue;
		}
		if (!strcmp(a, "--userns")) {
			cfg.userns = 1;
			continue;
		}
		if (!strcmp(a, "--hold")) {
			cfg.hold = 1;
			continue;
		}
		if (!strcmp(a, "--own-root")) {
			cfg.own_root = 1;
			continue;
		}
		if (!strcmp(a, "--timens")) {
			cfg.timens = 1;
			continue;
		}
		if (!strncmp(a, "--stage2=", 9)) {
			cfg.stage2 = 1;
			cfg.sync_fd = atoi(a + 9);
			continue;
		}
		if (!strcmp(a, "--reap")) {
			/* criu restore --exec-cmd: be the restored tree's parent,
			 * reap until it is gone */
			while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
				;
			exit(0);
		}
		if (!strcmp(a, "--drop-ids")) {
			cfg.drop_ids = 1;
			continue;
		}
		if (!strncmp(a, "--bind=", 7) && cfg.nr_binds < MAX_BINDS) {
			struct bind *b = &cfg.binds[cfg.nr_binds++];
			char *spec = strdup(a + 7), *colon;

			b->src = spec;
			colon = strchr(spec, ':');
			if (!colon)
				die("--bind=%s: expected SRC:DST[:ro]", spec);
			*colon = 0;
			b->dst = colon + 1;
			colon = strchr(b->dst, ':');
			if (colon) {
				*colon = 0;
				b->ro = !strcmp(colon + 1, "ro");
				b->rec = !strcmp(colon + 1, "rec");
			}
			continue;
		}
		errno = 0;
		die("unknown option %s", a);
	}
	errno = 0;
	if (cfg.hold ? 0 :
	    cfg.stage2 ? !cfg.test_pidfile || !cfg.argv || !cfg.argv[0] :
	    !cfg.root ? !cfg.enter || !cfg.argv || !cfg.argv[0] :
	    !cfg.init_pidfile || !cfg.test_pidfile || !cfg.argv || !cfg.argv[0])
		die("usage: nsinit --root=DIR --init-pidfile=F --test-pidfile=F [...] -- CMD...");
	if (cfg.host_stage && !strchr(cfg.host_stage, '='))
		die("--host-stage=%s: expected NAME=VALUE", cfg.host_stage);
}

static void bind_all(void)
{
	char path[4096];
	int i;

	for (i = 0; i < cfg.nr_binds; i++) {
		struct bind *b = &cfg.binds[i];

		snprintf(path, sizeof(path), "%s%s", cfg.root, b->dst);
		if (mount(b->src, path, NULL, MS_BIND | (b->rec ? MS_REC : 0), NULL))
			die("binding %s to %s", b->src, path);
		/* under a slave /, a bind would be a slave of the host's mount */
		if (cfg.host_stage && mount(NULL, path, NULL, MS_PRIVATE, NULL))
			die("making %s private", path);
		if (b->ro && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
			die("making %s read-only", path);
	}
}

/*
 * The outer process, before the init is cloned: a mount namespace of its own
 * with the root and the binds in place, which the init's new mount namespace
 * copies. Done here, outside the init's user namespace, because there every
 * mount copied from the host is locked, and a non-recursive bind of a
 * directory holding a locked mount fails (EINVAL) — as the state dir does
 * whenever another test has a mount in its work dir at that moment.
 * Not recursive: such mounts must not be copied in either. Only a test's own
 * root and work dir (:rec) come with what its host stage mounted there.
 */
static void prepare_root(void)
{
	/* Slave, not private, after a host stage: the masters it gave its
	 * mounts (upstream's external-master tests) stay; nothing goes back. */
	if (unshare(CLONE_NEWNS))
		die("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | (cfg.host_stage ? MS_SLAVE : MS_PRIVATE), NULL))
		die("making / private");
	if (mount(cfg.root, cfg.root, NULL, MS_BIND | (cfg.own_root ? MS_REC : 0), NULL))
		die("binding %s onto itself", cfg.root);
	if (cfg.own_root) {
		if (mount(NULL, cfg.root, NULL, MS_PRIVATE, NULL))
			die("making %s private", cfg.root);
	/* The shared root is cached for every test: nobody writes into it. */
	} else if (mount(NULL, cfg.root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) {
		die("making %s read-only", cfg.root);
	}
	bind_all();
}

/*
 * --etc-links=DIR: a writable /etc (upstream's tests write there; their
 * root's is an empty directory) still showing what ours has: a tmpfs with,
 * for each entry of /etc, a symlink to DIR/NAME (where /etc is bound).
 * A tmpfs: this takes no time, where a disk may take 100 ms.
 */
static void mount_etc_links(void)
{
	char path[4096], target[4096];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/etc", cfg.root);
	if (mount("zdtm-etc", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0777,size=1m"))
		die("mounting a tmpfs on %s", path);
	d = opendir("/etc");
	if (!d)
		die("opendir /etc");
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/etc/%s", cfg.root, e->d_name);
		snprintf(target, sizeof(target), "%s/%s", cfg.etc_links, e->d_name);
		if (symlink(target, path))
			die("symlink %s", path);
	}
	closedir(d);
}

/* The init, in its namespaces: what must be mounted from inside, then pivot. */
static void enter_root(void)
{
	char path[4096], cwd[4096], *inside = cfg.cwd ? cfg.cwd : cwd;

	/* The work dir keeps its path inside (the work dirs are bound there),
	 * unless --cwd says where it is (upstream's /zdtm/static). */
	if (!getcwd(cwd, sizeof(cwd)))
		die("getcwd");
	/* In a user namespace the copied root is locked, and pivot_root
	 * refuses a locked new root: a fresh (recursive) bind of it is not. */
	if (cfg.userns && mount(cfg.root, cfg.root, NULL, MS_BIND | MS_REC, NULL))
		die("binding %s onto itself inside", cfg.root);
	snprintf(path, sizeof(path), "%s/tmp", cfg.root);
	if (mount("zdtm-tmp", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m"))
		die("mounting a tmpfs on %s", path);
	if (cfg.etc_links)
		mount_etc_links();
	/* proc before the pivot: in a user namespace the kernel only allows a
	 * new proc mount while a fully visible one is still in this mount ns. */
	snprintf(path, sizeof(path), "%s/proc", cfg.root);
	if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		die("mounting %s", path);
	snprintf(path, sizeof(path), "%s/dev/pts", cfg.root);
	if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"))
		die("mounting %s", path);
	if (chdir(cfg.root))
		die("chdir %s", cfg.root);
	if (syscall(SYS_pivot_root, ".", "."))
		die("pivot_root %s", cfg.root);
	if (umount2(".", MNT_DETACH))
		die("detaching the old root");
	if (chdir(inside))
		die("chdir %s inside the new root", inside);
}

static void loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sk < 0 || ioctl(sk, SIOCGIFFLAGS, &ifr))
		die("reading lo flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(sk, SIOCSIFFLAGS, &ifr))
		die("bringing lo up");
	close(sk);
}

static pid_t read_pidfile(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -1;
}

static int reopen(int fd, const char *path, int flags)
{
	int nfd = open(path, flags);

	if (nfd < 0)
		return -1;
	if (nfd != fd) {
		if (dup2(nfd, fd) < 0)
			return -1;
		close(nfd);
	}
	return 0;
}

/*
 * pid 1, first stage: set up the namespaces' contents, then re-exec this
 * binary through its path inside the new root, so that no mapping of the
 * init refers to a mount outside the namespace (criu could not dump it).
 */
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* A new time namespace with upstream's offsets, joined before anything runs
 * in it (offsets can only be set while it is empty). No timens: go on. */
static void enter_new_timens(void)
{
	int fd;

	if (unshare(CLONE_NEWTIME)) {
		if (errno == EINVAL)
			return;
		die("unshare(CLONE_NEWTIME)");
	}
	/* becoming root in the user namespace cleared "dumpable": /proc/self
	 * would be the host root's, not ours, to write */
	if (prctl(PR_SET_DUMPABLE, 1))
		die("prctl(PR_SET_DUMPABLE)");
	write_file("/proc/self/timens_offsets", "monotonic 864000 0\nboottime 1728000 0\n");
	fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWTIME))
		die("joining the new time namespace");
	close(fd);
}

static int init_main(void *arg)
{
	char self[4096], out[4096], fdarg[32], **argv = arg, **nargv;
	ssize_t n;
	int i, argc;
	char c;

	close(cfg.sync[0]);
	/* Wait until the outer process wrote the user namespace maps. */
	if (read(cfg.sync[1], &c, 1) != 1)
		die("outer process went away");
	if (cfg.userns && (setgid(0) || setuid(0)))
		die("becoming root in the user namespace");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		die("readlink /proc/self/exe");
	self[n] = 0;
	n = readlink("/proc/self/fd/1", out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = 0;
	/* a file in the root itself (an upstream test's work dir is its
	 * /zdtm/static) is at its path inside it */
	n = strlen(cfg.root);
	if (!strncmp(out, cfg.root, n) && out[n] == '/')
		memmove(out, out + n, strlen(out + n) + 1);
	enter_root();
	/* stdio through the new root too (same paths: the work dirs are bound
	 * at their own paths), or criu finds fds on mounts outside the namespace. */
	if (reopen(0, "/dev/null", O_RDONLY) || (out[0] == '/' && (reopen(1, out, O_WRONLY | O_APPEND) ||
						      reopen(2, out, O_WRONLY | O_APPEND))))
		die("reopening stdio inside the new root");
	loopback_up();
	if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)))
		die("sethostname");
	if (cfg.timens)
		enter_new_timens();
	setsid();

	for (argc = 0; argv[argc]; argc++)
		;
	nargv = calloc(argc + 8, sizeof(char *));
	i = 0;
	nargv[i++] = self;
	snprintf(fdarg, sizeof(fdarg), "--stage2=%d", cfg.sync[1]);
	nargv[i++] = fdarg;
	if (asprintf(&nargv[i++], "--test-pidfile=%s", cfg.test_pidfile) < 0)
		die("asprintf");
	if (cfg.drop_ids)
		nargv[i++] = "--drop-ids";
	nargv[i++] = "--";
	memcpy(nargv + i, cfg.argv, sizeof(char *) * (argc - (cfg.argv - argv) + 1));
	if (fcntl(cfg.sync[1], F_SETFD, 0))
		die("fcntl");
	execv(self, nargv);
	die("re-exec %s inside the new root", self);
	return 1;
}

/* pid 1, second stage: run the launcher, then reap until the test is gone. */
static int init_stage2(void)
{
	pid_t launcher, test_pid, pid;
	int status, noreap, sync_fd = cfg.sync_fd;
	char c;

	fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
	launcher = fork();
	if (launcher < 0)
		die("fork");
	if (launcher == 0) {
		execv(cfg.argv[0], cfg.argv);
		die("exec %s", cfg.argv[0]);
	}
	if (waitpid(launcher, &status, 0) != launcher)
		die("waiting for the launcher");
	c = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	test_pid = c == 0 ? read_pidfile(cfg.test_pidfile) : 0;
	if (c == 0 && test_pid <= 0) {
		fprintf(stderr, "nsinit: no test pid in %s\n", cfg.test_pidfile);
		c = 121;
	}
	if (c == 0 && cfg.drop_ids) {
		/* The whole tree then has the workload's ids (see the ns flavor). */
		gid_t groups[2] = { 27495, 48244 };

		if (setgroups(2, groups) || setresgid(58467, 58467, 58467) || setresuid(18943, 18943, 18943))
			die("dropping to the workload's ids");
		prctl(PR_SET_DUMPABLE, 1);
	}
	/* Report the launcher's status and close: the outer process exits
	 * ("ready") only after this close, so the tree criu dumps holds no fd
	 * of the harness's and the init is in its final state. */
	if (write(sync_fd, &c, 1) != 1)
		die("reporting to the outer process");
	close(sync_fd);
	if (c != 0)
		return c;

	/* As upstream's ns init: with ZDTM_NOREAP (helper_zombie_child keeps a
	 * zombie for criu to dump), wait for the test only, reap nobody else. */
	noreap = getenv("ZDTM_NOREAP") != NULL;
	for (;;) {
		pid = waitpid(noreap ? test_pid : -1, &status, 0);
		if (pid == test_pid)
			return 0;
		if (pid < 0 && errno == ECHILD)
			return 0;
	}
}

/* --enter: join a test's own mount namespace, keeping the cwd's path. */
static void enter_mntns(const char *nsfile)
{
	char cwd[4096];
	int fd;

	if (!getcwd(cwd, sizeof(cwd)))
		die("getcwd");
	fd = open(nsfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("opening %s", nsfile);
	if (setns(fd, CLONE_NEWNS))
		die("entering the mount namespace %s", nsfile);
	close(fd);
	/* setns() left us at that namespace's root */
	if (chdir(cwd))
		die("chdir %s in %s", cwd, nsfile);
}

/*
 * --hold: a test's own copy of the harness's mount namespace, where its
 * criu (and upstream's host stage) run: a slave, so nothing done in it
 * reaches the host, gone with this process. Says "ready" on stdout, then
 * lives until stdin (the harness's pipe) ends.
 */
/*
 * --kdat-run: criu keeps its kernel facts (/run/criu.kdat) only on a tmpfs
 * /run, which a reboot empties; on a disk /run it probes them again on
 * every call (~20-30 ms: it makes a veth, a tun, nftables tables...). This
 * namespace's /run becomes a tmpfs holding each entry of the host's /run
 * (bound, recursively: /run/netns and /run/xtables.lock stay the host's),
 * with FILE (the run's cache, from an earlier test's namespace) as
 * criu.kdat if given: criu then loads it, or writes its own there.
 */
static void private_run(const char *kdat)
{
	char src[PATH_MAX], dst[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	int host, fd = -1;
	DIR *d;

	host = open("/run", O_RDONLY | O_DIRECTORY);
	if (host < 0)
		die("opening /run");
	if (mount("zdtm-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"))
		die("mounting a tmpfs on /run");
	d = fdopendir(dup(host));
	if (!d)
		die("reading the host's /run");
	while ((de = readdir(d))) {
		struct stat st;
		ssize_t n;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "criu.kdat") || !strcmp(de->d_name, "criu.kdat.tmp"))
			continue;
		if (fstatat(host, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;		/* gone meanwhile */
		snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", host, de->d_name);
		snprintf(dst, sizeof(dst), "/run/%s", de->d_name);
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(host, de->d_name, link, sizeof(link) - 1);
			if (n < 0)
				continue;
			link[n] = 0;
			if (symlink(link, dst))
				die("symlink %s", dst);
			continue;
		}
		if (S_ISDIR(st.st_mode) ? mkdir(dst, 0755) : (fd = open(dst, O_CREAT | O_WRONLY, 0600)) < 0)
			die("making %s", dst);
		if (!S_ISDIR(st.st_mode))
			close(fd);
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL))
			die("binding the host's %s", dst);
	}
	closedir(d);
	close(host);
	if (kdat) {
		char buf[65536];
		ssize_t n;
		int in = open(kdat, O_RDONLY);

		if (in < 0)
			return;			/* no test has left one yet */
		n = read(in, buf, sizeof(buf));
		close(in);
		fd = open("/run/criu.kdat", O_CREAT | O_WRONLY | O_TRUNC, 0600);
		if (fd < 0 || n <= 0 || write(fd, buf, n) != n)
			die("copying %s to /run/criu.kdat", kdat);
		close(fd);
	}
}

static int hold(void)
{
	char c;

	if (unshare(CLONE_NEWNS))
		die("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		die("making / a slave");
	if (cfg.kdat_run)
		private_run(cfg.kdat);
	if (write(1, "ready\n", 6) != 6)
		die("reporting ready");
	close(1);
	while (read(0, &c, 1) > 0 || errno == EINTR)
		;
	return 0;
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define NATIVE_ARCH AUDIT_ARCH_S390X
#define CLONE_FLAGS_ARG 1	/* clone(stack, flags, ...) there */
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#endif
#ifndef CLONE_FLAGS_ARG
#define CLONE_FLAGS_ARG 0
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
/* the low 32 bits of clone's flags, where CLONE_NEWPID is */
#define CLONE_FLAGS_LOW (offsetof(struct seccomp_data, args[CLONE_FLAGS_ARG]) + \
			 (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0))

/* A seccomp listener that stops this process at a clone(CLONE_NEWPID)
 * (upstream's ns_create); clone3 says ENOSYS so that glibc uses clone. */
static int trap_newpid_clone(void)
{
#ifdef NATIVE_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, CLONE_FLAGS_LOW),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWPID, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
	int fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);

	if (fd < 0)
		die("installing the seccomp filter of the host stage");
	return fd;
#else
	errno = 0;
	die("--host-stage: no seccomp filter for this architecture");
	return -1;
#endif
}

static void send_fd(int sk, int fd)
{
	char c = 0, buf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sk, &msg, 0) != 1)
		die("passing the seccomp listener");
}

static int recv_fd(int sk)
{
	char c, buf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sk, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The host stage's mount namespace once it clones; it is then killed. */
static int wait_for_clone(pid_t pid, int listener)
{
	struct pollfd pfd = { .fd = listener, .events = POLLIN };
	struct seccomp_notif req;
	char path[64];
	int ns = -1, status = 0;

	while (listener >= 0 && poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			die("poll");
	if (listener >= 0 && (pfd.revents & POLLIN)) {
		memset(&req, 0, sizeof(req));
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req))
			die("receiving the host stage's clone");
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", req.pid);
		ns = open(path, O_RDONLY | O_CLOEXEC);
		/* still blocked in that clone: the namespace is the one it made */
		if (ns >= 0 && ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id)) {
			close(ns);
			ns = -1;
		}
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (listener >= 0)
		close(listener);
	errno = 0;
	if (ns < 0)
		die("upstream's host stage (%s %s) ended before cloning its namespaces (status 0x%x)",
		    cfg.host_stage, cfg.argv[0], status);
	return ns;
}

/* --host-stage=NAME=VALUE: see the top of this file. */
static void host_stage(void)
{
	char cwd[4096];
	int sk[2], ns;
	pid_t pid;

	if (!getcwd(cwd, sizeof(cwd)))
		die("getcwd");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sk))
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		setpgid(0, 0);
		putenv(cfg.host_stage);
		send_fd(sk[1], trap_newpid_clone());
		execv(cfg.argv[0], cfg.argv);
		die("exec %s", cfg.argv[0]);
	}
	close(sk[1]);
	ns = wait_for_clone(pid, recv_fd(sk[0]));
	close(sk[0]);
	if (setns(ns, CLONE_NEWNS))
		die("entering the host stage's mount namespace");
	close(ns);
	if (chdir(cwd))
		die("chdir %s in the host stage's mount namespace", cwd);
}

int main(int argc, char **argv)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
	char path[64], c = 0, status_byte;
	pid_t init;
	FILE *f;

	parse(argc, argv);
	if (cfg.stage2)
		return init_stage2();
	if (cfg.enter)
		enter_mntns(cfg.enter);
	if (cfg.hold)
		return hold();
	if (!cfg.root) {
		execvp(cfg.argv[0], cfg.argv);
		die("exec %s", cfg.argv[0]);
	}
	if (cfg.host_stage)
		host_stage();
	if (cfg.userns)
		flags |= CLONE_NEWUSER;
	prepare_root();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cfg.sync))
		die("socketpair");
	init = clone(init_main, stack + sizeof(stack), flags | SIGCHLD, argv);
	if (init < 0)
		die("clone");
	close(cfg.sync[1]);
	if (cfg.userns) {
		snprintf(path, sizeof(path), "/proc/%d/uid_map", init);
		write_file(path, map_lines(cfg.uid_map ? cfg.uid_map : "0 0 1"));
		snprintf(path, sizeof(path), "/proc/%d/gid_map", init);
		write_file(path, map_lines(cfg.gid_map ? cfg.gid_map : "0 0 1"));
	}
	f = fopen(cfg.init_pidfile, "we");
	if (!f || fprintf(f, "%d\n", init) < 0 || fclose(f))
		die("writing %s", cfg.init_pidfile);
	if (write(cfg.sync[0], &c, 1) != 1)
		die("starting the init");
	if (read(cfg.sync[0], &c, 1) != 1) {
		int status;

		waitpid(init, &status, 0);
		errno = 0;
		die("the init died before the workload was ready (status 0x%x)", status);
	}
	/* wait for the init's close (see init_stage2) */
	while (read(cfg.sync[0], &status_byte, 1) > 0)
		;
	return (unsigned char)c;
}
