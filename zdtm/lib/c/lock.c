/*
 * Task waiter: a futex word in MAP_SHARED anonymous memory, so that a test
 * and the helpers it forks can announce and wait for steps ("lock ids").
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

static long futex(uint32_t *addr, int op, uint32_t val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

int task_waiter_init(task_waiter_t *t)
{
	void *m;

	m = mmap(NULL, sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		pr_perror("task_waiter_init: mmap");
		t->word = NULL;
		return -1;
	}
	t->word = m;
	__atomic_store_n(t->word, 0, __ATOMIC_SEQ_CST);
	return 0;
}

void task_waiter_fini(task_waiter_t *t)
{
	if (t->word)
		munmap(t->word, sizeof(uint32_t));
	t->word = NULL;
}

void task_complete(task_waiter_t *t, uint32_t lockid)
{
	__atomic_store_n(t->word, lockid, __ATOMIC_SEQ_CST);
	/* shared between processes: no FUTEX_PRIVATE_FLAG */
	futex(t->word, FUTEX_WAKE, INT32_MAX);
}

void task_wait(task_waiter_t *t, uint32_t lockid)
{
	uint32_t v;

	for (;;) {
		v = __atomic_load_n(t->word, __ATOMIC_SEQ_CST);
		if (v == lockid)
			return;
		/* returns at once if the word is no longer v; EINTR: loop */
		if (futex(t->word, FUTEX_WAIT, v) < 0 && errno != EAGAIN && errno != EINTR) {
			pr_perror("task_wait: futex");
			return;
		}
	}
}
