/*
 * cgroupv1.h - small helpers for workloads that use cgroup v1 hierarchies
 * mounted at /sys/fs/cgroup/<controller> (one controller per mount).
 *
 * A cgroup is named by its path inside the hierarchy, as in
 * /proc/PID/cgroup ("/" is the root, "/a/b" a nested group).  Every
 * function returns 0 on success and -1 with errno set on failure, unless
 * said otherwise.
 */
#ifndef ZDTM_CGROUPV1_H
#define ZDTM_CGROUPV1_H

#include <stddef.h>
#include <sys/types.h>

#define CGV1_MOUNT_ROOT "/sys/fs/cgroup"

/* 1 if /sys/fs/cgroup/<ctrl> is a cgroup v1 hierarchy with that controller, else 0 */
int cgv1_available(const char *ctrl);

/* the cgroup of task `pid` (0: self) in the hierarchy of `ctrl` */
int cgv1_task_cgroup(pid_t pid, const char *ctrl, char *buf, size_t len);

/* "<parent>/<name>" without a double slash when parent is "/" */
int cgv1_join(const char *parent, const char *name, char *buf, size_t len);

/* the directory of cgroup `cg`: /sys/fs/cgroup/<ctrl><cg> */
int cgv1_dir(const char *ctrl, const char *cg, char *buf, size_t len);

int cgv1_mkdir(const char *ctrl, const char *cg);
int cgv1_rmdir(const char *ctrl, const char *cg);
/* 1 if the cgroup directory exists, 0 if not */
int cgv1_exists(const char *ctrl, const char *cg);

/* write `val` to the control file; read it (trailing newline stripped) */
int cgv1_write(const char *ctrl, const char *cg, const char *file, const char *val);
int cgv1_read(const char *ctrl, const char *cg, const char *file, char *buf, size_t len);

/* move task `pid` (0: self, the whole thread group) into `cg` */
int cgv1_attach(const char *ctrl, const char *cg, pid_t pid);

/* rmdir `cg` and every cgroup below it, deepest first (they must be empty) */
int cgv1_rmdir_tree(const char *ctrl, const char *cg);

/*
 * Remove leftovers of earlier runs killed before their cleanup: cgroups
 * named "<prefix><pid>" directly under `parent` whose pid is not alive
 * (with everything below them).  Returns how many were removed; -1 if one
 * could not be (errno set).
 */
int cgv1_remove_stale(const char *ctrl, const char *parent, const char *prefix);

/* ------------------------------------------------------------------ */
/* Checks after restore: 0 if as expected, else 1 after a fail() that  */
/* names the task or the control file.                                */

/* task `pid` (0: self) is in `want` of `ctrl`; `who` names it ("child") */
int cgv1_expect_task(pid_t pid, const char *ctrl, const char *want, const char *who);

/* the control file `file` of ctrl:cg reads `want` */
int cgv1_expect_val(const char *ctrl, const char *cg, const char *file, const char *want);

/* ------------------------------------------------------------------ */
/* A child that sits in a pids cgroup and forks on request, to see a   */
/* pids.max limit enforced on it.                                      */

struct cgv1_forker {
	pid_t pid;		/* the child, -1 when there is none */
	int cmd, rep;		/* our ends of the pipes to it */
};

/*
 * Fork the child; it moves itself into pids:`cg`.  0 once it is there;
 * -1 on failure (reported with pr_err/pr_perror, the child killed, f->pid
 * -1).
 */
int cgv1_forker_start(struct cgv1_forker *f, const char *cg);

/*
 * Ask the child to fork once; *res gets its answer: 'y' it forked (and
 * reaped the grandchild), 'n' fork failed with EAGAIN, 'e' other error.
 * -1 if it did not answer.
 */
int cgv1_forker_try(struct cgv1_forker *f, char *res);

/*
 * The pids limit is enforced on the child, which is in pids:`cg`: it can
 * fork (below the limit), and after `cg`'s pids.max is lowered to 1 (left
 * so) it can't (EAGAIN).  0 if so, else 1 after a fail() saying which step
 * went wrong.
 */
int cgv1_forker_expect_limit(struct cgv1_forker *f, const char *cg);

/* SIGKILL and reap the child (nothing if there is none) */
void cgv1_forker_stop(struct cgv1_forker *f);

#endif /* ZDTM_CGROUPV1_H */
