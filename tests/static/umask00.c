/*
 * umask00: the file mode creation mask.
 * The test sets umask 0123 (a thread shares it), a forked child 0067.
 * After restore: the Umask: line of /proc/PID/status, umask() itself, and
 * the mode of a file created with 0777 (0654) / 0666 (0600) in --dirname,
 * for the test, for the thread (checked from the thread) and the child.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory for the created files", 1);

#define MASK_TEST 0123
#define MASK_CHILD 0067

static int check(const char *who, mode_t mask, mode_t create, mode_t want)
{
	char path[4096], *st, *p;
	struct stat sb;
	unsigned int m = ~0u;
	mode_t cur;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", syscall(SYS_gettid));
	st = read_file(path, NULL);
	p = st ? strstr(st, "\nUmask:") : NULL;
	if (!p || sscanf(p + 7, " %o", &m) != 1 || m != mask) {
		fail("%s: Umask: %o in /proc, expected %o", who, m, (unsigned int)mask);
		free(st);
		return 1;
	}
	free(st);
	cur = umask(mask);
	if (cur != mask) {
		fail("%s: umask() is %o, expected %o", who, (unsigned int)cur, (unsigned int)mask);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dirname, who);
	unlink(path);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, create);
	if (fd < 0 || fstat(fd, &sb)) {
		fail("%s: create %s", who, path);
		return 1;
	}
	close(fd);
	if ((sb.st_mode & 07777) != want) {
		fail("%s: a file created with mode %o got %o, expected %o", who, (unsigned int)create,
		     (unsigned int)(sb.st_mode & 07777), (unsigned int)want);
		return 1;
	}
	return 0;
}

static task_waiter_t tw, ttw;
static volatile int thread_ret = -1;

static void *thread_fn(void *arg)
{
	(void)arg;
	task_complete(&ttw, 1);
	task_wait(&ttw, 2);
	thread_ret = check("thread", MASK_TEST, 0777, 0777 & ~MASK_TEST);
	return NULL;
}

static int child(void *arg)
{
	(void)arg;
	umask(MASK_CHILD);
	task_complete(&tw, 1);
	task_wait(&tw, 2);
	return check("child", MASK_CHILD, 0666, 0666 & ~MASK_CHILD);
}

int main(int argc, char **argv)
{
	pthread_t th;
	sigset_t set;
	int ret = 0, code;
	pid_t pid;

	test_init(argc, argv);

	if (mkdir(dirname, 0777) && errno != EEXIST) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	umask(MASK_TEST);
	if (task_waiter_init(&tw) || task_waiter_init(&ttw))
		return 1;
	pid = test_fork_helper(child, NULL);
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, thread_fn, NULL)) {
		pr_err("pthread_create failed");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	task_wait(&tw, 1);
	task_wait(&ttw, 1);

	test_daemon();
	test_waitsig();

	ret |= check("test", MASK_TEST, 0777, 0777 & ~MASK_TEST);
	task_complete(&ttw, 2);
	pthread_join(th, NULL);
	if (thread_ret) {
		fail("the thread's umask is wrong");
		ret = 1;
	}
	task_complete(&tw, 2);
	code = wait_exit_code(pid);
	if (code) {
		fail("the child's umask is wrong (exit code %d)", code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
