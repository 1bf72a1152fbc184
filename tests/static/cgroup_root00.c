/*
 * cgroup_root00: restore into other cgroups with criu --cgroup-root.
 *
 * Set-up as in cgroup00: under the cgroups it starts in, the workload
 * creates
 *   memory: <cur>/zdtm-cgroup_root00-<pid>       memory.limit_in_bytes = 512M
 *   pids:   <cur>/zdtm-cgroup_root00-<pid>       pids.max = 64
 *   pids:   <cur>/zdtm-cgroup_root00-<pid>/sub   pids.max = 8
 * moves itself into the first two and forks a child that joins .../sub.
 *
 * The restore gets `--cgroup-root pids:<newroot>` (the .desc passes the
 * same <newroot> to the workload as --newroot): criu puts the root task's
 * pids cgroup at <newroot> and the rest of the dumped pids tree below it,
 * creating those cgroups and -- since it created them -- restoring their
 * properties.  The memory hierarchy is not re-rooted.
 *
 * After restore: the test process is in pids:<newroot>, the child in
 * pids:<newroot>/sub, both still in their memory cgroup; <newroot> has
 * pids.max 64 and <newroot>/sub pids.max 8 (set by criu from the images:
 * these are fresh cgroups), pids.current counts the tasks, and the limit
 * is enforced on the restored child.
 *
 * Cleanup: on exit the workload kills the child, moves itself back to the
 * cgroups it started in and removes every cgroup it or criu created.  At
 * start it removes what a killed earlier run (e.g. a failed restore) left:
 * a stale <newroot> and zdtm-cgroup_root00-<dead pid> cgroups.
 * <newroot> is fixed by the .desc: two runs of this test at the same time
 * on one machine would share it.
 *
 * suid: creating cgroups and moving tasks between them needs root here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroupv1.h"
#include "zdtmtst.h"

static char *newroot;
TEST_OPTION(newroot, string, "the pids cgroup the restore puts the test into (--cgroup-root)", 1);

#define MEM_LIMIT "536870912"
#define PIDS_MAX "64"
#define SUB_PIDS_MAX "8"

static char base_mem[256], base_pids[256], cg_mem[320], cg_pids[320], cg_sub[384], new_sub[320];
static struct cgv1_forker child = { -1, -1, -1 };
static int created;

static void rm(const char *ctrl, const char *cg)
{
	if (cgv1_rmdir(ctrl, cg) && errno != ENOENT)
		pr_perror("can't remove %s:%s", ctrl, cg);
}

static void cleanup(void)
{
	if (getpid() != zdtm_test_pid)
		return;
	cgv1_forker_stop(&child);
	if (!created)
		return;
	if (cgv1_attach("memory", base_mem, 0) || cgv1_attach("pids", base_pids, 0))
		pr_perror("can't move back to the original cgroups");
	rm("pids", new_sub);
	rm("pids", newroot);
	rm("pids", cg_sub);
	rm("pids", cg_pids);
	rm("memory", cg_mem);
	created = 0;
}

int main(int argc, char **argv)
{
	char name[64];
	int ret = 0;

	test_init(argc, argv);

	if (!cgv1_available("memory") || !cgv1_available("pids"))
		skip("needs cgroup v1 memory and pids hierarchies at " CGV1_MOUNT_ROOT "/<controller>");
	if (newroot[0] != '/' || !strcmp(newroot, "/")) {
		pr_err("--newroot must be an absolute cgroup path other than /");
		return 1;
	}
	if (cgv1_task_cgroup(0, "memory", base_mem, sizeof(base_mem)) ||
	    cgv1_task_cgroup(0, "pids", base_pids, sizeof(base_pids))) {
		pr_perror("reading /proc/self/cgroup");
		return 1;
	}
	/* leftovers of an earlier run that was killed (e.g. a failed restore) */
	if (cgv1_remove_stale("memory", base_mem, "zdtm-cgroup_root00-") < 0 ||
	    cgv1_remove_stale("pids", base_pids, "zdtm-cgroup_root00-") < 0)
		pr_perror("can't remove stale cgroups of an earlier run (going on)");
	snprintf(name, sizeof(name), "zdtm-cgroup_root00-%d", (int)getpid());
	if (cgv1_join(base_mem, name, cg_mem, sizeof(cg_mem)) ||
	    cgv1_join(base_pids, name, cg_pids, sizeof(cg_pids)) ||
	    cgv1_join(cg_pids, "sub", cg_sub, sizeof(cg_sub)) ||
	    cgv1_join(newroot, "sub", new_sub, sizeof(new_sub))) {
		pr_perror("cgroup paths");
		return 1;
	}
	/* a stale new root (an earlier run killed before its cleanup) */
	if (cgv1_exists("pids", newroot)) {
		test_msg("removing a stale pids:%s\n", newroot);
		if (cgv1_rmdir_tree("pids", newroot)) {
			pr_perror("pids:%s exists and can't be removed (in use?)", newroot);
			return 1;
		}
	}
	atexit(cleanup);

	if (cgv1_mkdir("memory", cg_mem)) {
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			skip("can't create a memory cgroup under %s: %s", base_mem, strerror(errno));
		pr_perror("mkdir memory:%s", cg_mem);
		return 1;
	}
	created = 1;
	if (cgv1_mkdir("pids", cg_pids) || cgv1_mkdir("pids", cg_sub)) {
		pr_perror("mkdir pids:%s", cg_sub);
		return 1;
	}
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
	test_msg("memory:%s pids:%s (child %d in pids:%s); restore goes to pids:%s\n", cg_mem, cg_pids,
		 (int)child.pid, cg_sub, newroot);

	test_daemon();
	test_waitsig();

	ret |= cgv1_expect_task(0, "pids", newroot, "test process");
	ret |= cgv1_expect_task(child.pid, "pids", new_sub, "child");
	ret |= cgv1_expect_task(0, "memory", cg_mem, "test process");
	ret |= cgv1_expect_task(child.pid, "memory", cg_mem, "child");
	ret |= cgv1_expect_val("pids", newroot, "pids.max", PIDS_MAX);
	ret |= cgv1_expect_val("pids", new_sub, "pids.max", SUB_PIDS_MAX);
	ret |= cgv1_expect_val("pids", new_sub, "pids.current", "1");
	ret |= cgv1_expect_val("pids", newroot, "pids.current", "2");
	ret |= cgv1_expect_val("memory", cg_mem, "memory.limit_in_bytes", MEM_LIMIT);

	/* enforcement on the restored child */
	ret |= cgv1_forker_expect_limit(&child, new_sub);

	cleanup();
	if (!ret)
		pass();
	return ret;
}
