/*
 * Helpers for cgroup v1 hierarchies mounted at /sys/fs/cgroup/<controller>.
 * See cgroupv1.h.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroupv1.h"
#include "zdtmtst.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

static int has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ',') && (p[wl] == ',' || p[wl] == '\0'))
			return 1;
		p += wl;
	}
	return 0;
}

int cgv1_available(const char *ctrl)
{
	char path[256], cg[256];
	struct statfs sfs;

	snprintf(path, sizeof(path), "%s/%s", CGV1_MOUNT_ROOT, ctrl);
	if (statfs(path, &sfs) || sfs.f_type != CGROUP_SUPER_MAGIC)
		return 0;
	return cgv1_task_cgroup(0, ctrl, cg, sizeof(cg)) == 0;
}

int cgv1_task_cgroup(pid_t pid, const char *ctrl, char *buf, size_t len)
{
	char path[64], *data, *line, *save = NULL;
	int ret = -1;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/cgroup");
	data = read_file(path, NULL);
	if (!data)
		return -1;
	/* lines: "ID:controller[,controller...]:/path" */
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		*c2 = '\0';
		if (!has_word(c1 + 1, ctrl))
			continue;
		if (strlen(c2 + 1) >= len) {
			errno = ENAMETOOLONG;
			break;
		}
		strcpy(buf, c2 + 1);
		ret = 0;
		break;
	}
	if (ret && !line)
		errno = ENOENT;
	free(data);
	return ret;
}

int cgv1_join(const char *parent, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", strcmp(parent, "/") ? parent : "", name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int cgv1_dir(const char *ctrl, const char *cg, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", CGV1_MOUNT_ROOT, ctrl, strcmp(cg, "/") ? cg : "");

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int cgv1_mkdir(const char *ctrl, const char *cg)
{
	char path[512];

	if (cgv1_dir(ctrl, cg, path, sizeof(path)))
		return -1;
	return mkdir(path, 0755);
}

int cgv1_rmdir(const char *ctrl, const char *cg)
{
	char path[512];

	if (cgv1_dir(ctrl, cg, path, sizeof(path)))
		return -1;
	return rmdir(path);
}

int cgv1_exists(const char *ctrl, const char *cg)
{
	char path[512];
	struct stat st;

	if (cgv1_dir(ctrl, cg, path, sizeof(path)))
		return 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int control_path(const char *ctrl, const char *cg, const char *file, char *buf, size_t len)
{
	char dir[512];
	int n;

	if (cgv1_dir(ctrl, cg, dir, sizeof(dir)))
		return -1;
	n = snprintf(buf, len, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int cgv1_write(const char *ctrl, const char *cg, const char *file, const char *val)
{
	char path[640];
	int fd, e;
	ssize_t r;

	if (control_path(ctrl, cg, file, path, sizeof(path)))
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = write(fd, val, strlen(val));
	e = errno;
	close(fd);
	if (r != (ssize_t)strlen(val)) {
		errno = r < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

int cgv1_read(const char *ctrl, const char *cg, const char *file, char *buf, size_t len)
{
	char path[640], *data;
	size_t n;

	if (control_path(ctrl, cg, file, path, sizeof(path)))
		return -1;
	data = read_file(path, &n);
	if (!data)
		return -1;
	while (n && (data[n - 1] == '\n' || data[n - 1] == ' '))
		data[--n] = '\0';
	if (n >= len) {
		free(data);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, data, n + 1);
	free(data);
	return 0;
}

int cgv1_attach(const char *ctrl, const char *cg, pid_t pid)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", pid ? (int)pid : (int)getpid());
	return cgv1_write(ctrl, cg, "cgroup.procs", val);
}

int cgv1_rmdir_tree(const char *ctrl, const char *cg)
{
	char dir[512], sub[512];
	struct dirent *de;
	DIR *d;

	if (cgv1_dir(ctrl, cg, dir, sizeof(dir)))
		return -1;
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cgv1_join(cg, de->d_name, sub, sizeof(sub)) || cgv1_rmdir_tree(ctrl, sub)) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return cgv1_rmdir(ctrl, cg);
}

int cgv1_remove_stale(const char *ctrl, const char *parent, const char *prefix)
{
	char dir[512], cg[512], *end;
	size_t plen = strlen(prefix);
	struct dirent *de;
	int n = 0, ret = 0;
	long pid;
	DIR *d;

	if (cgv1_dir(ctrl, parent, dir, sizeof(dir)))
		return -1;
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || strncmp(de->d_name, prefix, plen))
			continue;
		errno = 0;
		pid = strtol(de->d_name + plen, &end, 10);
		if (errno || *end || pid <= 0 || end == de->d_name + plen)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (cgv1_join(parent, de->d_name, cg, sizeof(cg)) || cgv1_rmdir_tree(ctrl, cg))
			ret = -1;
		else
			n++;
	}
	closedir(d);
	return ret ? -1 : n;
}

int cgv1_expect_task(pid_t pid, const char *ctrl, const char *want, const char *who)
{
	char got[512];

	if (cgv1_task_cgroup(pid, ctrl, got, sizeof(got))) {
		fail("%s: can't read its %s cgroup", who, ctrl);
		return 1;
	}
	if (strcmp(got, want)) {
		fail("%s: in %s:%s, expected %s:%s", who, ctrl, got, ctrl, want);
		return 1;
	}
	return 0;
}

int cgv1_expect_val(const char *ctrl, const char *cg, const char *file, const char *want)
{
	char got[128];

	if (cgv1_read(ctrl, cg, file, got, sizeof(got))) {
		fail("%s:%s: can't read %s", ctrl, cg, file);
		return 1;
	}
	if (strcmp(got, want)) {
		fail("%s:%s: %s is %s, expected %s", ctrl, cg, file, got, want);
		return 1;
	}
	return 0;
}

/* the forker child: join cg ('R' joined, 'E' not), then fork once per command byte */
static int forker_child(const char *cg, int cmd, int rep)
{
	char c;
	pid_t p;

	c = cgv1_attach("pids", cg, 0) ? 'E' : 'R';
	if (write(rep, &c, 1) != 1 || c != 'R')
		return 1;
	while (read(cmd, &c, 1) == 1) {
		p = fork();
		if (p == 0)
			_exit(0);
		if (p > 0) {
			waitpid(p, NULL, 0);
			c = 'y';
		} else
			c = errno == EAGAIN ? 'n' : 'e';
		if (write(rep, &c, 1) != 1)
			return 1;
	}
	return 0;
}

int cgv1_forker_start(struct cgv1_forker *f, const char *cg)
{
	int cmd[2], rep[2];
	char res;

	f->pid = -1;
	f->cmd = f->rep = -1;
	if (pipe(cmd)) {
		pr_perror("pipe");
		return -1;
	}
	if (pipe(rep)) {
		pr_perror("pipe");
		close(cmd[0]);
		close(cmd[1]);
		return -1;
	}
	f->pid = fork();
	if (f->pid < 0) {
		pr_perror("fork");
		close(cmd[0]);
		close(cmd[1]);
		close(rep[0]);
		close(rep[1]);
		return -1;
	}
	if (f->pid == 0) {
		close(cmd[1]);
		close(rep[0]);
		_exit(forker_child(cg, cmd[0], rep[1]));
	}
	close(cmd[0]);
	close(rep[1]);
	f->cmd = cmd[1];
	f->rep = rep[0];
	if (read(f->rep, &res, 1) != 1 || res != 'R') {
		pr_err("the child could not join pids:%s", cg);
		cgv1_forker_stop(f);
		return -1;
	}
	return 0;
}

int cgv1_forker_try(struct cgv1_forker *f, char *res)
{
	*res = '?';
	return write(f->cmd, "f", 1) == 1 && read(f->rep, res, 1) == 1 ? 0 : -1;
}

int cgv1_forker_expect_limit(struct cgv1_forker *f, const char *cg)
{
	int ret = 0;
	char res;

	if (cgv1_forker_try(f, &res) || res != 'y') {
		fail("the restored child can't fork below its limit (%c)", res);
		ret = 1;
	}
	if (cgv1_write("pids", cg, "pids.max", "1")) {
		fail("can't lower pids.max of pids:%s", cg);
		ret = 1;
	} else if (cgv1_forker_try(f, &res) || res != 'n') {
		fail("pids.max = 1 is not enforced on the restored child (fork result '%c')", res);
		ret = 1;
	}
	return ret;
}

void cgv1_forker_stop(struct cgv1_forker *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = -1;
	if (f->cmd >= 0)
		close(f->cmd);
	if (f->rep >= 0)
		close(f->rep);
	f->cmd = f->rep = -1;
}
