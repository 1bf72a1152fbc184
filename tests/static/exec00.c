/*
 * exec00: a child that execve()'d a program: the test binary itself, run in
 * a "child mode" with its own argv, a minimal environment and one inherited
 * socket.  The exec'd program has a fresh address space with a buffer of
 * datagen() data on its heap, and blocks reading the socket.
 * Before and after C/R the test checks from /proc that the child still runs
 * that program: /proc/PID/exe is the test binary, cmdline is the argv it was
 * exec'd with, comm is the binary's base name, environ is the one it got.
 * After restore it asks the child (over the socket) to check itself: pid,
 * parent, environment marker, heap data, and that the test's O_CLOEXEC fd
 * did not leak into it; then the child exits 0 on request.
 */
#include <fcntl.h>
#include <signal.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define CHILD_MODE "exec-child"
#define MARK "ZDTM_EXEC_MARK=exec00-4f1d"
#define HEAP_LEN (256 * 1024)

struct report {
	int pid, ppid;
	int data_ok, mark_ok, cloexec_closed;
	char argv0[32];
};

/* The exec'd program: argv = { "zdtm-exec-child", CHILD_MODE, <sock fd>, <cloexec fd> } */
static int exec_child(char **argv)
{
	int fd = atoi(argv[2]), cfd = atoi(argv[3]);
	unsigned char *heap = malloc(HEAP_LEN);
	struct report r;
	uint32_t crc = ~0u;
	const char *m;
	char c;

	if (!heap)
		return 2;
	datagen(heap, HEAP_LEN, &crc);
	if (write(fd, "R", 1) != 1)
		return 3;
	for (;;) {
		if (read(fd, &c, 1) != 1)
			return 4;
		if (c == 'q')
			return 0;
		memset(&r, 0, sizeof(r));
		r.pid = getpid();
		r.ppid = getppid();
		crc = ~0u;
		r.data_ok = !datachk(heap, HEAP_LEN, &crc);
		m = getenv("ZDTM_EXEC_MARK");
		r.mark_ok = m && !strcmp(m, strchr(MARK, '=') + 1);
		r.cloexec_closed = fcntl(cfd, F_GETFD) < 0 && errno == EBADF;
		snprintf(r.argv0, sizeof(r.argv0), "%s", argv[0]);
		if (write(fd, &r, sizeof(r)) != sizeof(r))
			return 5;
	}
}

static char exe_path[PATH_MAX];
static char cmdline[256];
static size_t cmdline_len;

static int check_proc(pid_t pid)
{
	char path[64], comm[16], *buf, *st;
	struct stat self, child;
	size_t len;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat("/proc/self/exe", &self) || stat(path, &child)) {
		fail("can't stat /proc/self/exe or %s", path);
		return 1;
	}
	if (self.st_dev != child.st_dev || self.st_ino != child.st_ino) {
		fail("child %d does not run the test binary any more", (int)pid);
		ret = 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf = read_file(path, &len);
	if (!buf || len != cmdline_len || memcmp(buf, cmdline, len)) {
		fail("child %d: cmdline differs from the exec'd argv", (int)pid);
		ret = 1;
	}
	free(buf);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	buf = read_file(path, &len);
	if (!buf || len != sizeof(MARK) || memcmp(buf, MARK, len)) {
		fail("child %d: environment differs from the exec'd one", (int)pid);
		ret = 1;
	}
	free(buf);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf = read_file(path, NULL);
	snprintf(comm, sizeof(comm), "%s", basename(exe_path));
	if (!buf || strncmp(buf, comm, strlen(comm)) || buf[strlen(comm)] != '\n') {
		fail("child %d: comm '%s', expected '%s'", (int)pid, buf ? buf : "?", comm);
		ret = 1;
	}
	free(buf);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	buf = read_file(path, NULL);
	st = buf ? strrchr(buf, ')') : NULL;
	if (!st || (st[2] != 'S' && st[2] != 'R')) {
		fail("child %d: state '%c', expected running or sleeping", (int)pid, st ? st[2] : '?');
		ret = 1;
	}
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	char sfd[16], cfd[16];
	char *cargv[5], *cenv[] = { MARK, NULL };
	struct timeval tmo = { .tv_sec = 10 };
	struct report r;
	int sk[2], cloexec_fd, ret = 0, i;
	ssize_t n;
	pid_t pid;
	char c;

	if (argc == 4 && !strcmp(argv[1], CHILD_MODE))
		return exec_child(argv);

	test_init(argc, argv);

	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	if (n <= 0) {
		pr_perror("readlink /proc/self/exe");
		return 1;
	}
	exe_path[n] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk)) {
		pr_perror("socketpair");
		return 1;
	}
	cloexec_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (cloexec_fd < 0) {
		pr_perror("open /dev/null");
		return 1;
	}
	snprintf(sfd, sizeof(sfd), "%d", sk[1]);
	snprintf(cfd, sizeof(cfd), "%d", cloexec_fd);
	cargv[0] = "zdtm-exec-child";
	cargv[1] = CHILD_MODE;
	cargv[2] = sfd;
	cargv[3] = cfd;
	cargv[4] = NULL;
	for (i = 0; i < 4; i++) {
		size_t l = strlen(cargv[i]) + 1;

		memcpy(cmdline + cmdline_len, cargv[i], l);
		cmdline_len += l;
	}

	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(sk[0]);
		execve(exe_path, cargv, cenv);
		_exit(127);
	}
	close(sk[1]);
	if (read(sk[0], &c, 1) != 1 || c != 'R') {
		pr_err("the exec'd child did not start (exit code %d)", wait_exit_code(pid));
		return 1;
	}
	if (check_proc(pid)) {
		pr_err("the exec'd child is wrong before C/R");
		return 1;
	}
	/* don't hang on a child that does not answer */
	if (setsockopt(sk[0], SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo))) {
		pr_perror("SO_RCVTIMEO");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (check_proc(pid)) {
		kill(pid, SIGKILL);
		wait_exit_code(pid);
		return 1;
	}
	if (write(sk[0], "r", 1) != 1 || read_all(sk[0], &r, sizeof(r)) != sizeof(r)) {
		fail("the exec'd child does not answer");
		kill(pid, SIGKILL);
		wait_exit_code(pid);
		return 1;
	}
	if (r.pid != pid || r.ppid != getpid()) {
		fail("the exec'd child says pid %d ppid %d, expected %d %d", r.pid, r.ppid, (int)pid,
		     (int)getpid());
		ret = 1;
	}
	if (strcmp(r.argv0, cargv[0])) {
		fail("the exec'd child's argv[0] is '%s'", r.argv0);
		ret = 1;
	}
	if (!r.data_ok) {
		fail("the exec'd child's heap data is corrupted");
		ret = 1;
	}
	if (!r.mark_ok) {
		fail("the exec'd child lost its environment");
		ret = 1;
	}
	if (!r.cloexec_closed) {
		fail("the test's O_CLOEXEC fd %d is open in the exec'd child", cloexec_fd);
		ret = 1;
	}
	if (write(sk[0], "q", 1) != 1 || (i = wait_exit_code(pid)) != 0) {
		fail("the exec'd child exited with %d", i);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
