/*
 * cgroup00: tasks in their own cgroups (cgroup v1), checkpointed with
 * criu --manage-cgroups.
 *
 * Under the cgroups it starts in, the workload creates
 *   memory: <cur>/zdtm-cgroup00-<pid>       memory.limit_in_bytes = 512M
 *   pids:   <cur>/zdtm-cgroup00-<pid>       pids.max = 64
 *   pids:   <cur>/zdtm-cgroup00-<pid>/sub   pids.max = 8
 * moves itself into the first two and forks a child that moves itself
 * into .../sub.
 *
 * After restore: both tasks are back in exactly those cgroups (the test
 * process in both, the child in the nested one), the limits read back,
 * pids.current counts the restored tasks, and the pids limit is still
 * enforced on the restored child (with sub's pids.max lowered to 1, its
 * fork() fails with EAGAIN).
 *
 * The cgroup directories themselves outlive the dump (the dumped tasks die,
 * the directories stay), so what criu has to do here is put the restored
 * tasks back into them; re-creating cgroups with their properties is
 * covered by cgroup_root00.
 *
 * On exit the workload kills the child, moves itself back to the cgroups
 * it started in and removes the ones it created.  At start it removes
 * zdtm-cgroup00-<dead pid> cgroups a killed earlier run (e.g. a failed
 * restore) left behind.
 *
 * suid: creating cgroups and moving tasks between them needs root here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroupv1.h"
#include "zdtmtst.h"

#define MEM_LIMIT "536870912"
#define PIDS_MAX "64"
#define SUB_PIDS_MAX "8"

static char base_mem[256], base_pids[256], cg_mem[320], cg_pids[320], cg_sub[384];
static struct cgv1_forker child = { -1, -1, -1 };
static int created;

static void cleanup(void)
{
	if (getpid() != zdtm_test_pid)
		return;
	cgv1_forker_stop(&child);
	if (!created)
		return;
	if (cgv1_attach("memory", base_mem, 0) || cgv1_attach("pids", base_pids, 0))
		pr_perror("can't move back to the original cgroups");
	if ((created & 4) && cgv1_rmdir("pids", cg_sub))
		pr_perror("can't remove pids:%s", cg_sub);
	if ((created & 2) && cgv1_rmdir("pids", cg_pids))
		pr_perror("can't remove pids:%s", cg_pids);
	if ((created & 1) && cgv1_rmdir("memory", cg_mem))
		pr_perror("can't remove memory:%s", cg_mem);
	created = 0;
}

int main(int argc, char **argv)
{
	char name[64], res;
	int ret = 0;

	test_init(argc, argv);

	if (!cgv1_available("memory") || !cgv1_available("pids"))
		skip("needs cgroup v1 memory and pids hierarchies at " CGV1_MOUNT_ROOT "/<controller>");
	if (cgv1_task_cgroup(0, "memory", base_mem, sizeof(base_mem)) ||
	    cgv1_task_cgroup(0, "pids", base_pids, sizeof(base_pids))) {
		pr_perror("reading /proc/self/cgroup");
		return 1;
	}
	/* leftovers of an earlier run that was killed (e.g. a failed restore) */
	if (cgv1_remove_stale("memory", base_mem, "zdtm-cgroup00-") < 0 ||
	    cgv1_remove_stale("pids", base_pids, "zdtm-cgroup00-") < 0)
		pr_perror("can't remove stale cgroups of an earlier run (going on)");
	snprintf(name, sizeof(name), "zdtm-cgroup00-%d", (int)getpid());
	if (cgv1_join(base_mem, name, cg_mem, sizeof(cg_mem)) ||
	    cgv1_join(base_pids, name, cg_pids, sizeof(cg_pids)) ||
	    cgv1_join(cg_pids, "sub", cg_sub, sizeof(cg_sub))) {
		pr_perror("cgroup paths");
		return 1;
	}
	atexit(cleanup);

	if (cgv1_mkdir("memory", cg_mem)) {
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			skip("can't create a memory cgroup under %s: %s", base_mem, strerror(errno));
		pr_perror("mkdir memory:%s", cg_mem);
		return 1;
	}
	created |= 1;
	if (cgv1_mkdir("pids", cg_pids)) {
		pr_perror("mkdir pids:%s", cg_pids);
		return 1;
	}
	created |= 2;
	if (cgv1_mkdir("pids", cg_sub)) {
		pr_perror("mkdir pids:%s", cg_sub);
		return 1;
	}
	created |= 4;
	if (cgv1_write("memory", cg_mem, "memory.limit_in_bytes", MEM_LIMIT) ||
	    cgv1_write("pids", cg_pids, "pids.max", PIDS_MAX) ||
	    cgv1_write("pids", cg_sub, "pids.max", SUB_PIDS_MAX)) {
		pr_perror("setting limits");
		return 1;
	}
	if (cgv1_attach("memory", cg_mem, 0) || cgv1_attach("pids", cg_pids, 0)) {
		pr_perror("moving into the new cgroups");
		return 1;
	}

	if (cgv1_forker_start(&child, cg_sub))
		return 1;
	/* the limit works before the checkpoint */
	if (cgv1_forker_try(&child, &res) || res != 'y') {
		pr_err("the child can't fork below its pids limit (%c)", res);
		return 1;
	}
	test_msg("memory:%s pids:%s (child %d in pids:%s)\n", cg_mem, cg_pids, (int)child.pid, cg_sub);

	test_daemon();
	test_waitsig();

	ret |= cgv1_expect_task(0, "memory", cg_mem, "test process");
	ret |= cgv1_expect_task(0, "pids", cg_pids, "test process");
	ret |= cgv1_expect_task(child.pid, "memory", cg_mem, "child");
	ret |= cgv1_expect_task(child.pid, "pids", cg_sub, "child");
	ret |= cgv1_expect_val("memory", cg_mem, "memory.limit_in_bytes", MEM_LIMIT);
	ret |= cgv1_expect_val("pids", cg_pids, "pids.max", PIDS_MAX);
	ret |= cgv1_expect_val("pids", cg_sub, "pids.max", SUB_PIDS_MAX);
	ret |= cgv1_expect_val("pids", cg_sub, "pids.current", "1");
	ret |= cgv1_expect_val("pids", cg_pids, "pids.current", "2");

	/* enforcement on the restored child */
	ret |= cgv1_forker_expect_limit(&child, cg_sub);

	cleanup();
	if (!ret)
		pass();
	return ret;
}
