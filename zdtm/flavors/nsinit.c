/*
 * nsinit: starts an unmodified protocol workload inside fresh namespaces,
 * under an init process (pid 1) that criu dumps and restores with the tree.
 *
 *   nsinit --root=DIR --init-pidfile=FILE --test-pidfile=FILE
 *          [--userns] [--uid-map=...] [--gid-map=...] [--bind=SRC:DST[:ro]]...
 *          [--hostname=NAME] [--drop-ids] -- WORKLOAD ARGV...
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
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
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
	int ro;
};

static struct {
	char *root, *init_pidfile, *test_pidfile, *hostname;
	char *uid_map, *gid_map;
	int userns, drop_ids, stage2, sync_fd;
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
#undef OPT
		if (!strcmp(a, "--userns")) {
			cfg.userns = 1;
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
			}
			continue;
		}
		errno = 0;
		die("unknown option %s", a);
	}
	errno = 0;
	if (cfg.stage2 ? !cfg.test_pidfile || !cfg.argv || !cfg.argv[0] :
	    !cfg.root || !cfg.init_pidfile || !cfg.test_pidfile || !cfg.argv || !cfg.argv[0])
		die("usage: nsinit --root=DIR --init-pidfile=F --test-pidfile=F [...] -- CMD...");
}

/*
 * The outer process, before the init is cloned: a mount namespace of its own
 * with the root and the binds in place, which the init's new mount namespace
 * copies. Done here, outside the init's user namespace, because there every
 * mount copied from the host is locked, and a non-recursive bind of a
 * directory holding a locked mount fails (EINVAL) — as the state dir does
 * whenever another test has a mount in its work dir at that moment.
 * Not recursive: such mounts must not be copied in either.
 */
static void prepare_root(void)
{
	char path[4096];
	int i;

	if (unshare(CLONE_NEWNS))
		die("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("making / private");
	if (mount(cfg.root, cfg.root, NULL, MS_BIND, NULL))
		die("binding %s onto itself", cfg.root);
	/* The root is shared by every test and cached: nobody writes into it. */
	if (mount(NULL, cfg.root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
		die("making %s read-only", cfg.root);
	for (i = 0; i < cfg.nr_binds; i++) {
		struct bind *b = &cfg.binds[i];

		snprintf(path, sizeof(path), "%s%s", cfg.root, b->dst);
		if (mount(b->src, path, NULL, MS_BIND, NULL))
			die("binding %s to %s", b->src, path);
		if (b->ro && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
			die("making %s read-only", path);
	}
}

/* The init, in its namespaces: what must be mounted from inside, then pivot. */
static void enter_root(void)
{
	char path[4096], cwd[4096];

	/* The work dir keeps its path inside (the work dirs are bound there). */
	if (!getcwd(cwd, sizeof(cwd)))
		die("getcwd");
	/* In a user namespace the copied root is locked, and pivot_root
	 * refuses a locked new root: a fresh (recursive) bind of it is not. */
	if (cfg.userns && mount(cfg.root, cfg.root, NULL, MS_BIND | MS_REC, NULL))
		die("binding %s onto itself inside", cfg.root);
	snprintf(path, sizeof(path), "%s/tmp", cfg.root);
	if (mount("zdtm-tmp", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m"))
		die("mounting a tmpfs on %s", path);
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
	if (chdir(cwd))
		die("chdir %s inside the new root", cwd);
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
	enter_root();
	/* stdio through the new root too (same paths: the work dirs are bound
	 * at their own paths), or criu finds fds on mounts outside the namespace. */
	if (reopen(0, "/dev/null", O_RDONLY) || (out[0] == '/' && (reopen(1, out, O_WRONLY | O_APPEND) ||
						      reopen(2, out, O_WRONLY | O_APPEND))))
		die("reopening stdio inside the new root");
	loopback_up();
	if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)))
		die("sethostname");
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
	int status, sync_fd = cfg.sync_fd;
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

	for (;;) {
		pid = waitpid(-1, &status, 0);
		if (pid == test_pid)
			return 0;
		if (pid < 0 && errno == ECHILD)
			return 0;
	}
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
