/*
 * ipcns_sysctl00: the ipc namespace's own settings and an mqueue
 * filesystem mounted for it (writing the sysctls and mounting need root
 * in the namespaces: suid; flavors ns/uns only -- in h these would be the
 * host's).
 *
 * Before the checkpoint, each set to a value other than its default (the
 * test checks that first):
 *   kernel/msgmax 4000, kernel/msgmnb 12000, kernel/msgmni 100,
 *   kernel/shmmax 123456789, kernel/shmall 1000000, kernel/shmmni 300,
 *   kernel/shm_rmid_forced 1, kernel/sem "100 1000 10 50",
 *   fs/mqueue/queues_max 100, fs/mqueue/msg_max 20,
 *   fs/mqueue/msgsize_max 4096, fs/mqueue/msg_default 5,
 *   fs/mqueue/msgsize_default 2048;
 * and the (empty) mqueue filesystem of the test's ipc namespace is
 * mounted at mq/ in the work dir.
 * After restore every value reads back the same, and they are in force:
 *  - a new SysV queue gets msg_qbytes 12000 (msgmnb), and msgsnd of 4001
 *    bytes fails with EINVAL (msgmax);
 *  - mq/ is an mqueue mount of the restored ipc namespace: a queue created
 *    now with mq_open (no attributes) shows up as mq/<name>, with
 *    mq_maxmsg 5 and mq_msgsize 2048 (msg_default, msgsize_default), and
 *    one asking for 21 messages is refused (msg_max).
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

static const struct {
	const char *path;
	const char *value;
} knobs[] = {
	{ "kernel/msgmax", "4000" },
	{ "kernel/msgmnb", "12000" },
	{ "kernel/msgmni", "100" },
	{ "kernel/shmmax", "123456789" },
	{ "kernel/shmall", "1000000" },
	{ "kernel/shmmni", "300" },
	{ "kernel/shm_rmid_forced", "1" },
	{ "kernel/sem", "100 1000 10 50" },
	{ "fs/mqueue/queues_max", "100" },
	{ "fs/mqueue/msg_max", "20" },
	{ "fs/mqueue/msgsize_max", "4096" },
	{ "fs/mqueue/msg_default", "5" },
	{ "fs/mqueue/msgsize_default", "2048" },
};

static int check_sysv_limits(void)
{
	static struct {
		long mtype;
		char mtext[4001];
	} m = { 1 };
	struct msqid_ds ds;
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600), ret = 0;

	if (q < 0) {
		fail("msgget after restore");
		return 1;
	}
	if (msgctl(q, IPC_STAT, &ds) || ds.msg_qbytes != 12000) {
		fail("a new SysV queue has msg_qbytes %lu, expected 12000 (kernel/msgmnb)",
		     (unsigned long)ds.msg_qbytes);
		ret = 1;
	}
	errno = 0;
	if (msgsnd(q, &m, 4001, IPC_NOWAIT) == 0 || errno != EINVAL) {
		fail("a 4001-byte message was not refused with EINVAL (kernel/msgmax 4000)");
		ret = 1;
	}
	msgctl(q, IPC_RMID, NULL);
	return ret;
}

static int check_mqueue(const char *mnt)
{
	struct mq_attr attr, big = { .mq_maxmsg = 21, .mq_msgsize = 64 };
	struct nsu_mount m;
	mqd_t q;
	int n, ret = 0;

	n = nsu_mount_at(mnt, &m, NULL);
	if (n != 1 || strcmp(m.fstype, "mqueue")) {
		fail("%d mounts at %s, the top one %s; expected one mqueue mount", n, mnt, n > 0 ? m.fstype : "-");
		return 1;
	}
	q = mq_open("/zdtm-probe", O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
	if (q == (mqd_t)-1) {
		fail("mq_open after restore");
		return 1;
	}
	if (mq_getattr(q, &attr) || attr.mq_maxmsg != 5 || attr.mq_msgsize != 2048) {
		fail("a new queue has maxmsg %ld msgsize %ld, expected 5 2048 (msg_default, msgsize_default)",
		     attr.mq_maxmsg, attr.mq_msgsize);
		ret = 1;
	}
	if (access("mq/zdtm-probe", F_OK)) {
		fail("a queue created now does not show up in mq/: the mount is not of this ipc namespace");
		ret = 1;
	}
	mq_close(q);
	mq_unlink("/zdtm-probe");
	errno = 0;
	q = mq_open("/zdtm-big", O_RDWR | O_CREAT | O_EXCL, 0600, &big);
	if (q != (mqd_t)-1 || errno != EINVAL) {
		fail("a queue of 21 messages was not refused with EINVAL (fs/mqueue/msg_max 20)");
		if (q != (mqd_t)-1) {
			mq_close(q);
			mq_unlink("/zdtm-big");
		}
		ret = 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	char mnt[PATH_MAX];
	unsigned int i;
	int ret = 0;

	test_init(argc, argv);

	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		if (nsu_sysctl_change(knobs[i].path, knobs[i].value, 0) < 0)
			return 1;
	if (nsu_abspath("mq", mnt, sizeof(mnt)) || mkdir(mnt, 0755) ||
	    mount("zdtm-mqueue", mnt, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		pr_perror("mounting an mqueue filesystem at mq/");
		return 1;
	}

	test_daemon();
	test_waitsig();

	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		ret |= nsu_sysctl_expect(knobs[i].path, knobs[i].value);
	ret |= check_sysv_limits();
	ret |= check_mqueue(mnt);

	if (!ret)
		pass();
	return ret;
}
