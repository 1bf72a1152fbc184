/*
 * fork_tree: a tree of three processes, test -> child -> grandchild,
 * synchronised with task waiters.  Every process owns private memory
 * (datagen, modified after fork so copy-on-write pages differ), a private
 * variable and its place in the tree (pid, ppid).  After restore the test
 * releases the others; each checks its own state and reports through its
 * exit code (the child also forwards the grandchild's code).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

#define MEM_LEN (128 * 1024)

enum { L_GRANDCHILD_READY = 1, L_CHILD_READY = 2, L_CHECK = 3 };

/* exit codes */
#define E_OK 0
#define E_SELF 1       /* this process' state is wrong */
#define E_CHILD 2      /* its child reported a failure */
#define E_CHILD_LOST 4 /* its child vanished / was killed */

static task_waiter_t up, down;
static unsigned char *mem; /* inherited, then rewritten by every process */
static long generation;    /* private variable: 0 test, 1 child, 2 grandchild */

static int check_self(const char *who, long gen, pid_t pid, pid_t ppid)
{
	uint32_t crc = ~0u;
	int ret = 0;

	if (generation != gen) {
		fail("%s: private variable is %ld, expected %ld", who, generation, gen);
		ret = 1;
	}
	if (getpid() != pid || getppid() != ppid) {
		fail("%s: pid %d ppid %d, expected %d %d", who, (int)getpid(), (int)getppid(), (int)pid,
		     (int)ppid);
		ret = 1;
	}
	if (datachk(mem, MEM_LEN, &crc)) {
		fail("%s: private memory corrupted", who);
		ret = 1;
	}
	if (mem[0] != (unsigned char)gen) {
		/* mem[0] is not covered by the CRC below */
		fail("%s: memory of another process leaked in (%d)", who, mem[0]);
		ret = 1;
	}
	return ret;
}

static void fill(long gen)
{
	uint32_t crc = ~0u;

	generation = gen;
	datagen(mem + 1, MEM_LEN - 1, &crc);
	/* re-CRC the whole buffer after setting the marker byte */
	mem[0] = (unsigned char)gen;
	crc = ~0u;
	crc = zdtm_crc32_update(crc, mem, MEM_LEN - 4);
	mem[MEM_LEN - 4] = crc & 0xff;
	mem[MEM_LEN - 3] = (crc >> 8) & 0xff;
	mem[MEM_LEN - 2] = (crc >> 16) & 0xff;
	mem[MEM_LEN - 1] = (crc >> 24) & 0xff;
}

static int grandchild(pid_t child)
{
	pid_t me = getpid();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fill(2);
	task_complete(&up, L_GRANDCHILD_READY);
	task_wait(&down, L_CHECK);
	return check_self("grandchild", 2, me, child) ? E_SELF : E_OK;
}

static int child(pid_t test)
{
	pid_t me = getpid(), gc;
	int code, ret = E_OK;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fill(1);
	gc = fork();
	if (gc < 0) {
		pr_perror("child: fork");
		return E_SELF;
	}
	if (gc == 0)
		_exit(grandchild(me));
	task_wait(&up, L_GRANDCHILD_READY);
	task_complete(&up, L_CHILD_READY);

	task_wait(&down, L_CHECK);
	if (check_self("child", 1, me, test))
		ret |= E_SELF;
	code = wait_exit_code(gc);
	if (code < 0 || code >= 128) {
		fail("child: grandchild %d lost (code %d)", (int)gc, code);
		ret |= E_CHILD_LOST;
	} else if (code) {
		fail("child: grandchild %d reported failure %d", (int)gc, code);
		ret |= E_CHILD;
	}
	return ret;
}

int main(int argc, char **argv)
{
	pid_t me, pid;
	int code, ret = 0;

	test_init(argc, argv);
	me = getpid();

	mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	fill(0);
	if (task_waiter_init(&up) || task_waiter_init(&down))
		return 1;

	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0)
		_exit(child(me));
	task_wait(&up, L_CHILD_READY);

	test_daemon();
	test_waitsig();

	if (check_self("test", 0, me, getppid()))
		ret = 1;
	task_complete(&down, L_CHECK);
	code = wait_exit_code(pid);
	if (code != 0) {
		fail("child %d reported %d (1 self, 2 grandchild failed, 4 grandchild lost, >=128 killed)",
		     (int)pid, code);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
