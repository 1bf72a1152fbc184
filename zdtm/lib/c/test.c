/*
 * Life cycle of a zdtm workload: options, identity, output redirection,
 * the readiness fork, SIGTERM and the exit bookkeeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

pid_t zdtm_test_pid;

static struct zdtm_option *options;

static char *opt_pidfile;
static char *opt_outfile;

static struct zdtm_option builtin_pidfile = {
	.name = "pidfile",
	.type = ZDTM_OPT_string,
	.ptr = &opt_pidfile,
	.doc = "file the launcher writes the test's pid into",
	.mandatory = 1,
};

static struct zdtm_option builtin_outfile = {
	.name = "outfile",
	.type = ZDTM_OPT_string,
	.ptr = &opt_outfile,
	.doc = "output file (written as <outfile>.inprogress while running)",
	.mandatory = 1,
};

/* absolute paths, computed in test_init() (the test may chdir) */
static char *abs_pidfile;
static char *abs_outfile;
static char *abs_outfile_inprogress;

/* the test's end of the readiness socketpair, until test_daemon() */
static int ready_fd = -1;

static volatile sig_atomic_t sigterm_received;

#define READY_BYTE 'R'
#define SKIP_BYTE 'S'
#define ACK_BYTE 'A'

void zdtm_register_option(struct zdtm_option *opt)
{
	struct zdtm_option *o;

	for (o = options; o; o = o->next)
		if (o == opt)
			return;
	opt->next = options;
	options = opt;
}

static void usage(FILE *f, const char *prog)
{
	struct zdtm_option *o;
	static const char *const type_names[] = {
		[ZDTM_OPT_string] = "string",
		[ZDTM_OPT_int] = "int",
		[ZDTM_OPT_uint] = "uint",
		[ZDTM_OPT_long] = "long",
		[ZDTM_OPT_bool] = "bool",
	};

	fprintf(f, "usage: %s --pidfile=FILE --outfile=FILE [--option=value ...]\noptions:\n", prog);
	for (o = options; o; o = o->next)
		fprintf(f, "  --%s=<%s>%s\t%s\n", o->name, type_names[o->type],
			o->mandatory ? " (mandatory)" : "", o->doc ? o->doc : "");
}

static void finish_outfile(void);

static void __attribute__((noreturn)) init_error(const char *prog, int show_usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int stdio_redirected;

static void init_error(const char *prog, int show_usage, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (stdio_redirected) {
		pr_err("%s", msg);
		finish_outfile();
		exit(1);
	}
	fprintf(stderr, "%s: %s\n", prog, msg);
	if (show_usage)
		usage(stderr, prog);
	/* the harness looks into the outfile: say it there too */
	if (opt_outfile && *opt_outfile) {
		FILE *f = fopen(opt_outfile, "a");

		if (f) {
			fprintf(f, "ERR: %s: %s\n", prog, msg);
			fclose(f);
		}
	}
	exit(1);
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int parse_value(struct zdtm_option *o, const char *v)
{
	char *end;
	long l;
	unsigned long ul;

	errno = 0;
	switch (o->type) {
	case ZDTM_OPT_string:
		*(char **)o->ptr = (char *)v;
		return 0;
	case ZDTM_OPT_bool:
		return parse_bool(v, (bool *)o->ptr);
	case ZDTM_OPT_int:
		l = strtol(v, &end, 0);
		if (!*v || *end || errno || l < INT_MIN || l > INT_MAX)
			return -1;
		*(int *)o->ptr = (int)l;
		return 0;
	case ZDTM_OPT_long:
		l = strtol(v, &end, 0);
		if (!*v || *end || errno)
			return -1;
		*(long *)o->ptr = l;
		return 0;
	case ZDTM_OPT_uint:
		if (*v == '-')
			return -1;
		ul = strtoul(v, &end, 0);
		if (!*v || *end || errno || ul > UINT_MAX)
			return -1;
		*(unsigned int *)o->ptr = (unsigned int)ul;
		return 0;
	}
	return -1;
}

static void parse_options(int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "zdtm-test";
	struct zdtm_option *o;
	int i;

	zdtm_register_option(&builtin_outfile);
	zdtm_register_option(&builtin_pidfile);

	for (i = 1; i < argc; i++) {
		char *arg = argv[i], *eq, *name;
		size_t nlen;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			usage(stdout, prog);
			exit(0);
		}
		if (strncmp(arg, "--", 2) || !arg[2])
			init_error(prog, 1, "bad argument '%s': options are --name=value", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);

		for (o = options; o; o = o->next)
			if (strlen(o->name) == nlen && !strncmp(o->name, name, nlen))
				break;
		if (!o)
			init_error(prog, 1, "unknown option '%.*s'", (int)nlen, name);

		if (!eq) {
			if (o->type != ZDTM_OPT_bool)
				init_error(prog, 1, "option --%s needs a value (--%s=...)", o->name, o->name);
			*(bool *)o->ptr = true;
		} else if (parse_value(o, eq + 1)) {
			init_error(prog, 1, "bad value '%s' for option --%s", eq + 1, o->name);
		}
		o->seen = 1;
	}

	for (o = options; o; o = o->next)
		if (o->mandatory && !o->seen)
			init_error(prog, 1, "mandatory option --%s is missing", o->name);
	if (!*opt_pidfile || !*opt_outfile)
		init_error(prog, 1, "--pidfile and --outfile must not be empty");
}

static char *make_abs(const char *prog, const char *path, const char *suffix)
{
	char cwd[PATH_MAX];
	char *res;
	int n;

	if (path[0] == '/')
		n = asprintf(&res, "%s%s", path, suffix);
	else {
		if (!getcwd(cwd, sizeof(cwd)))
			init_error(prog, 0, "getcwd: %s", strerror(errno));
		n = asprintf(&res, "%s/%s%s", cwd, path, suffix);
	}
	if (n < 0)
		init_error(prog, 0, "out of memory");
	return res;
}

static unsigned long parse_id(const char *prog, const char *what, const char *v)
{
	char *end;
	unsigned long id;

	errno = 0;
	id = strtoul(v, &end, 10);
	if (!*v || *end || errno || id > UINT_MAX - 1)
		init_error(prog, 0, "bad id '%s' in %s", v, what);
	return id;
}

/* ZDTM_GROUPS, ZDTM_GID, ZDTM_UID: in this order, only those present */
static void switch_identity(const char *prog)
{
	const char *v;

	v = getenv("ZDTM_GROUPS");
	if (v) {
		char *copy = strdup(v), *tok, *save = NULL;
		gid_t groups[64];
		size_t n = 0;

		if (!copy)
			init_error(prog, 0, "out of memory");
		for (tok = strtok_r(copy, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
			if (n == ARRAY_SIZE(groups))
				init_error(prog, 0, "too many groups in ZDTM_GROUPS");
			groups[n++] = (gid_t)parse_id(prog, "ZDTM_GROUPS", tok);
		}
		if (setgroups(n, groups))
			init_error(prog, 0, "setgroups(ZDTM_GROUPS=\"%s\"): %s", v, strerror(errno));
		free(copy);
	}

	v = getenv("ZDTM_GID");
	if (v && setgid((gid_t)parse_id(prog, "ZDTM_GID", v)))
		init_error(prog, 0, "setgid(%s): %s", v, strerror(errno));

	v = getenv("ZDTM_UID");
	if (v && setuid((uid_t)parse_id(prog, "ZDTM_UID", v)))
		init_error(prog, 0, "setuid(%s): %s", v, strerror(errno));

	/* a euid change clears "dumpable"; the checkpointer needs to ptrace us */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		init_error(prog, 0, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
}

/* move fd above 2, so that dup2() onto 0..2 can't clobber it */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	close(fd);
	return nfd;
}

static void redirect_stdio(const char *prog)
{
	int fd, nul;

	fd = fd_above_stdio(open(abs_outfile_inprogress, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644));
	if (fd < 0)
		init_error(prog, 0, "can't open %s: %s", abs_outfile_inprogress, strerror(errno));
	nul = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (nul < 0)
		init_error(prog, 0, "can't open /dev/null: %s", strerror(errno));

	fflush(stdout);
	fflush(stderr);
	if (dup2(nul, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
		init_error(prog, 0, "dup2: %s", strerror(errno));
	close(nul);
	close(fd);

	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	stdio_redirected = 1;
}

/* Move <outfile>.inprogress to <outfile> (if it is still there). */
static void finish_outfile(void)
{
	fflush(stdout);
	fflush(stderr);
	if (rename(abs_outfile_inprogress, abs_outfile) && errno != ENOENT)
		pr_perror("can't rename %s to %s", abs_outfile_inprogress, abs_outfile);
}

static void test_atexit(void)
{
	/* only the test process itself, never a forked helper */
	if (getpid() != zdtm_test_pid)
		return;
	finish_outfile();
	unlink(abs_pidfile);
}

static int write_pidfile(pid_t pid)
{
	char *tmpl, buf[32];
	int fd, len;

	if (asprintf(&tmpl, "%s.XXXXXX", abs_pidfile) < 0)
		return -1;
	fd = mkstemp(tmpl);
	if (fd < 0) {
		pr_perror("can't create a temporary file for %s", abs_pidfile);
		free(tmpl);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (fchmod(fd, 0666) || write_all(fd, buf, len) != len || close(fd)) {
		pr_perror("can't write %s", tmpl);
		unlink(tmpl);
		free(tmpl);
		return -1;
	}
	if (rename(tmpl, abs_pidfile)) {
		pr_perror("can't rename %s to %s", tmpl, abs_pidfile);
		unlink(tmpl);
		free(tmpl);
		return -1;
	}
	free(tmpl);
	return 0;
}

/* The launching process: wait for readiness, publish the pid, exit. */
static void __attribute__((noreturn)) launcher(pid_t child, int rfd)
{
	char c;
	ssize_t r;
	int status;

	do
		r = read(rfd, &c, 1);
	while (r < 0 && errno == EINTR);

	if (r == 1 && c == READY_BYTE) {
		if (write_pidfile(child) == 0) {
			/* Tell the test the pidfile is there, then wait until it
			 * has closed its end: when we exit ("ready"), the test
			 * holds no fd of ours that a checkpoint would see. */
			c = ACK_BYTE;
			if (write_all(rfd, &c, 1) == 1)
				do
					r = read(rfd, &c, 1);
				while (r > 0 || (r < 0 && errno == EINTR));
			_exit(0);
		}
		pr_err("killing the test process %d: no pidfile", (int)child);
		kill(child, SIGKILL);
	} else if (r < 0) {
		pr_perror("reading the readiness socket");
	}

	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			pr_perror("waitpid(%d)", (int)child);
			finish_outfile();
			_exit(1);
		}
	}

	if (r == 1 && c == SKIP_BYTE) {
		/* the SKIP line stays the last one */
	} else if (r == 1 && c == READY_BYTE) {
		/* pidfile failure, already reported */
	} else if (WIFEXITED(status)) {
		pr_err("test process %d exited with code %d before it was ready",
		       (int)child, WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		pr_err("test process %d was killed by signal %d (%s) before it was ready",
		       (int)child, WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else {
		pr_err("test process %d died (status 0x%x) before it was ready", (int)child, status);
	}
	finish_outfile();
	_exit(1);
}

static void sigterm_handler(int sig)
{
	int saved = errno;

	(void)sig;
	sigterm_received = 1;
	/* delivered to another thread: make sure the main thread wakes up */
	if (getpid() == zdtm_test_pid && syscall(SYS_gettid) != zdtm_test_pid)
		syscall(SYS_tgkill, zdtm_test_pid, zdtm_test_pid, SIGTERM);
	errno = saved;
}

/* forked helpers must not keep (or use) the readiness socket */
static void atfork_child(void)
{
	if (ready_fd >= 0 && getpid() != zdtm_test_pid) {
		close(ready_fd);
		ready_fd = -1;
	}
}

void test_init(int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "zdtm-test";
	struct sigaction sa;
	int p[2];
	pid_t pid;

	parse_options(argc, argv);

	abs_pidfile = make_abs(prog, opt_pidfile, "");
	abs_outfile = make_abs(prog, opt_outfile, "");
	abs_outfile_inprogress = make_abs(prog, opt_outfile, ".inprogress");

	switch_identity(prog);
	redirect_stdio(prog);

	/* a socketpair, not a pipe: the launcher acks the pidfile on it */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p)) {
		pr_perror("socketpair");
		finish_outfile();
		exit(1);
	}

	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		finish_outfile();
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		launcher(pid, p[0]);
	}

	/* the test process */
	close(p[0]);
	ready_fd = p[1];
	zdtm_test_pid = getpid();

	if (setsid() < 0) {
		pr_perror("setsid");
		exit(1);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigterm_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a live workload's blocking call returns EINTR */
	if (sigaction(SIGTERM, &sa, NULL)) {
		pr_perror("sigaction(SIGTERM)");
		exit(1);
	}

	if (atexit(test_atexit)) {
		pr_err("atexit failed");
		exit(1);
	}
	pthread_atfork(NULL, NULL, atfork_child);
}

void test_daemon(void)
{
	char c = READY_BYTE;
	ssize_t r;

	if (getpid() != zdtm_test_pid || ready_fd < 0)
		return;
	if (write_all(ready_fd, &c, 1) != 1)
		pr_perror("can't signal readiness");
	else
		/* wait until the launcher has written the pidfile (its ack, or
		 * EOF if it died); the launcher exits once we have closed */
		do
			r = read(ready_fd, &c, 1);
		while ((r == 1 && c != ACK_BYTE) || (r < 0 && errno == EINTR));
	close(ready_fd);
	ready_fd = -1;
}

/* called by skip(): before readiness, tell the launcher it's a skip */
void zdtm_skip_notify(void)
{
	char c = SKIP_BYTE;

	if (getpid() != zdtm_test_pid || ready_fd < 0)
		return;
	if (write_all(ready_fd, &c, 1) != 1)
		pr_perror("can't signal skip");
	close(ready_fd);
	ready_fd = -1;
}

int test_go(void)
{
	return !sigterm_received;
}

void test_waitsig(void)
{
	sigset_t term, old, wait;
	int saved = errno;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	wait = old;
	sigdelset(&wait, SIGTERM);
	while (!sigterm_received)
		sigsuspend(&wait);
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved; /* not sigsuspend's EINTR */
}
