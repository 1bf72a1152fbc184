/*
 * rseq00: restartable sequences registrations, per thread.
 *  - the main thread and thread G keep the rseq area glibc registered for
 *    them (signature RSEQ_SIG);
 *  - thread O unregisters glibc's area and registers its own (another
 *    address, signature 0x0badc0de).
 * After restore each thread checks its registration with the kernel's own
 * answers to rseq(): the same area, length and signature again gives EBUSY
 * ("already registered"), the same area with another signature EPERM, and
 * another area EINVAL (an unregistered thread would get 0 for the first);
 * and that the kernel keeps the area's cpu_id up to date: the thread is
 * moved (sched_setaffinity) to each allowed CPU and cpu_id must follow
 * getcpu().
 */
#include <linux/rseq.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MY_SIG 0x0badc0de

static struct rseq own_area __attribute__((aligned(32)));
static struct rseq other_area __attribute__((aligned(32)));

static long sys_rseq(void *area, uint32_t len, int flags, uint32_t sig)
{
	return syscall(SYS_rseq, area, len, flags, sig);
}

static struct rseq *glibc_area(void)
{
	return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/* the registered length: glibc uses 32 (older kernels insist), or __rseq_size */
static uint32_t find_len(struct rseq *area, uint32_t sig)
{
	uint32_t lens[] = { 32, __rseq_size, sizeof(struct rseq) };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lens); i++)
		if (lens[i] && sys_rseq(area, lens[i], 0, sig) < 0 && errno == EBUSY)
			return lens[i];
	return 0;
}

static int check_reg(const char *who, struct rseq *area, uint32_t len, uint32_t sig)
{
	long r;

	errno = 0;
	r = sys_rseq(area, len, 0, sig);
	if (r != -1 || errno != EBUSY) {
		fail("%s: rseq(%p, %u, sig %#x) = %ld errno %d, expected EBUSY (registered)", who, area, len,
		     sig, r, errno);
		if (r == 0)
			sys_rseq(area, len, RSEQ_FLAG_UNREGISTER, sig);
		return 1;
	}
	errno = 0;
	r = sys_rseq(area, len, 0, sig ^ 1);
	if (r != -1 || errno != EPERM) {
		fail("%s: rseq with another signature = %ld errno %d, expected EPERM", who, r, errno);
		return 1;
	}
	errno = 0;
	r = sys_rseq(&other_area, len, 0, sig);
	if (r != -1 || errno != EINVAL) {
		fail("%s: rseq with another area = %ld errno %d, expected EINVAL", who, r, errno);
		return 1;
	}
	return 0;
}

static int check_cpu_id(const char *who, struct rseq *area)
{
	cpu_set_t allowed, one;
	unsigned int cpu, moves = 0;
	int c, ret = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed)) {
		fail("%s: sched_getaffinity", who);
		return 1;
	}
	for (c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed))
			continue;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			continue;
		sched_yield();
		if (syscall(SYS_getcpu, &cpu, NULL, NULL) || (int)cpu != c)
			continue;
		moves++;
		if ((int)*(volatile uint32_t *)&area->cpu_id != c ||
		    (int)*(volatile uint32_t *)&area->cpu_id_start != c) {
			fail("%s: on CPU %d the rseq area says cpu_id %d cpu_id_start %u", who, c,
			     (int)area->cpu_id, area->cpu_id_start);
			ret = 1;
		}
	}
	sched_setaffinity(0, sizeof(allowed), &allowed);
	if (!moves) {
		fail("%s: could not run on any CPU of the affinity mask", who);
		ret = 1;
	}
	return ret;
}

struct th {
	const char *name;
	int own;
	struct rseq *area;
	uint32_t len, sig;
	task_waiter_t tw;
	volatile int result;
};

static int setup(struct th *t)
{
	if (t->own) {
		/* drop glibc's registration, use our own area and signature */
		uint32_t glen = find_len(glibc_area(), RSEQ_SIG);

		if (!glen || sys_rseq(glibc_area(), glen, RSEQ_FLAG_UNREGISTER, RSEQ_SIG)) {
			pr_perror("%s: unregister glibc's rseq", t->name);
			return -1;
		}
		t->area = &own_area;
		t->len = 32;
		t->sig = MY_SIG;
		own_area.cpu_id = RSEQ_CPU_ID_UNINITIALIZED;
		if (sys_rseq(t->area, t->len, 0, t->sig)) {
			pr_perror("%s: rseq register", t->name);
			return -1;
		}
	} else {
		t->area = glibc_area();
		t->sig = RSEQ_SIG;
		t->len = find_len(t->area, t->sig);
		if (!t->len) {
			pr_err("%s: glibc's rseq area is not registered", t->name);
			return -1;
		}
	}
	if (check_reg(t->name, t->area, t->len, t->sig) || check_cpu_id(t->name, t->area))
		return -1;
	return 0;
}

static void *thread_fn(void *arg)
{
	struct th *t = arg;

	t->result = setup(t) ? 2 : -1;
	task_complete(&t->tw, 1);
	if (t->result == 2)
		return NULL;
	task_wait(&t->tw, 2);
	t->result = check_reg(t->name, t->area, t->len, t->sig) | check_cpu_id(t->name, t->area);
	return NULL;
}

int main(int argc, char **argv)
{
	struct th m = { .name = "main" }, g = { .name = "thread G" }, o = { .name = "thread O", .own = 1 };
	pthread_t tg, to;
	sigset_t set;
	int ret = 0;

	test_init(argc, argv);

	if (sys_rseq(NULL, 0, 0, 0) < 0 && errno == ENOSYS)
		skip("the kernel has no rseq");
	if (__rseq_size == 0)
		skip("glibc did not register rseq (glibc.pthread.rseq=0?)");
	if (setup(&m)) {
		pr_err("rseq is wrong in the main thread before C/R");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (task_waiter_init(&g.tw) || task_waiter_init(&o.tw) || pthread_create(&tg, NULL, thread_fn, &g) ||
	    pthread_create(&to, NULL, thread_fn, &o)) {
		pr_err("can't start the threads");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	task_wait(&g.tw, 1);
	task_wait(&o.tw, 1);
	if (g.result == 2 || o.result == 2) {
		pr_err("rseq is wrong in a thread before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_reg(m.name, m.area, m.len, m.sig);
	ret |= check_cpu_id(m.name, m.area);
	task_complete(&g.tw, 2);
	task_complete(&o.tw, 2);
	pthread_join(tg, NULL);
	pthread_join(to, NULL);
	if (g.result || o.result) {
		fail("thread checks failed (G: %d, O: %d)", g.result, o.result);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
