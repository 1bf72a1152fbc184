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

#endif /* ZDTM_CGROUPV1_H */
