/*
 * seccomp00: stacked seccomp filters, per thread.
 * With no_new_privs set, the main thread installs two filters:
 *   filter 1: syscall 1000 (unused) -> ERRNO 77, getppid -> ERRNO EACCES
 *   filter 2: syscall 1001 (unused) -> ERRNO 88, syscall 1000 -> ERRNO 99
 * (both allow everything else, and anything of a foreign arch).
 * For syscall 1000 both filters answer ERRNO and the newest one wins: 99.
 * Thread U is created before the filters (unfiltered), thread F after them
 * (it inherits both).
 * After restore: /proc/.../status says Seccomp: 2 with 2 filters for the
 * main thread and F, 0 for U; in main and F, syscall 1000 fails with 99,
 * 1001 with 88, getppid with EACCES, an ordinary syscall works; in U,
 * syscall 1000 fails with ENOSYS and getppid works.
 *
 * suid: criu must suspend the filters while its parasite runs
 * (PTRACE_O_SUSPEND_SECCOMP) and read them (PTRACE_SECCOMP_GET_FILTER), both
 * need CAP_SYS_ADMIN; an unprivileged dump (--unprivileged, as the
 * workload's owner) fails with "suspending seccomp failed: Operation not
 * permitted".  As root the test still sets no_new_privs, as a non-root one
 * would have to.  Not in the uns flavor: both ptrace requests check
 * CAP_SYS_ADMIN in the initial user namespace.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#define ARCH 0
#endif

#define NR_A 1000
#define NR_B 1001

#define DENY(nr, err)                                                      \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                   \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((err) & SECCOMP_RET_DATA))

static int install(struct sock_filter *f, unsigned short len)
{
	struct sock_fprog prog = { .len = len, .filter = f };

	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int install_filters(void)
{
	struct sock_filter f1[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		DENY(NR_A, 77),
		DENY(__NR_getppid, EACCES),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_filter f2[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		DENY(NR_B, 88),
		DENY(NR_A, 99),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};

	if (install(f1, ARRAY_SIZE(f1)) || install(f2, ARRAY_SIZE(f2)))
		return -1;
	return 0;
}

static int status_of(pid_t tid, const char *field)
{
	char path[64], *st, *p;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	st = read_file(path, NULL);
	p = st ? strstr(st, field) : NULL;
	if (p)
		sscanf(p + strlen(field), " %d", &v);
	free(st);
	return v;
}

static int expect_err(const char *who, long nr, int want)
{
	long r;

	errno = 0;
	r = syscall(nr);
	if (r != -1 || errno != want) {
		fail("%s: syscall %ld returned %ld errno %d, expected errno %d", who, nr, r, errno, want);
		return 1;
	}
	return 0;
}

/* filtered: 1 (main thread, F) or 0 (U) */
static int check_self(const char *who, int filtered)
{
	pid_t tid = syscall(SYS_gettid);
	int ret = 0, mode = status_of(tid, "\nSeccomp:"), n = status_of(tid, "\nSeccomp_filters:");

	if (mode != (filtered ? SECCOMP_MODE_FILTER : 0) || n != (filtered ? 2 : 0)) {
		fail("%s: Seccomp: %d with %d filters, expected %d with %d", who, mode, n,
		     filtered ? SECCOMP_MODE_FILTER : 0, filtered ? 2 : 0);
		ret = 1;
	}
	if (filtered) {
		ret |= expect_err(who, NR_A, 99);
		ret |= expect_err(who, NR_B, 88);
		ret |= expect_err(who, __NR_getppid, EACCES);
	} else {
		ret |= expect_err(who, NR_A, ENOSYS);
		ret |= expect_err(who, NR_B, ENOSYS);
		if (syscall(__NR_getppid) < 0) {
			fail("%s: getppid failed", who);
			ret = 1;
		}
	}
	if (syscall(SYS_gettid) != tid) {
		fail("%s: an ordinary syscall misbehaves", who);
		ret = 1;
	}
	return ret;
}

struct th {
	const char *name;
	int filtered;
	task_waiter_t tw;
	volatile int result;
};

static void *thread_fn(void *arg)
{
	struct th *t = arg;

	t->result = check_self(t->name, t->filtered) ? 2 : -1;
	task_complete(&t->tw, 1);
	task_wait(&t->tw, 2);
	t->result = check_self(t->name, t->filtered);
	return NULL;
}

static int start(pthread_t *th, struct th *t)
{
	if (task_waiter_init(&t->tw) || pthread_create(th, NULL, thread_fn, t))
		return -1;
	task_wait(&t->tw, 1);
	return t->result == 2 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct th u = { .name = "thread U", .filtered = 0 }, f = { .name = "thread F", .filtered = 1 };
	pthread_t tu, tf;
	sigset_t set;
	int ret = 0;

	test_init(argc, argv);

	if (!ARCH)
		skip("no seccomp arch constant for this machine");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (start(&tu, &u)) {
		pr_err("thread U failed");
		return 1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || install_filters()) {
		pr_perror("installing the seccomp filters");
		return 1;
	}
	if (start(&tf, &f)) {
		pr_err("thread F failed");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (check_self("main", 1)) {
		pr_err("filters wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_self("main", 1);
	task_complete(&u.tw, 2);
	task_complete(&f.tw, 2);
	pthread_join(tu, NULL);
	pthread_join(tf, NULL);
	if (u.result || f.result) {
		fail("thread checks failed (U: %d, F: %d)", u.result, f.result);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
