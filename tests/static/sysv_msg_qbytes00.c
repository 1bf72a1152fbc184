/*
 * sysv_msg_qbytes00: the capacity of a System V message queue (msg_qbytes,
 * set with msgctl(IPC_SET)) survives checkpoint/restore (flavors ns/uns:
 * the queue lives in the test's own ipc namespace).
 *
 * Queue Q (key KEY_Q, mode 0600) gets msg_qbytes lowered from the
 * namespace default (kernel.msgmnb, 16384) to 6000 -- lowering needs no
 * privilege -- and holds two messages of 2000 bytes.  After restore
 * IPC_STAT must give msg_qbytes 6000 and 2 messages / 4000 bytes, and
 * the queue must enforce its capacity: a third 2000-byte message fits
 * (6000), a fourth one does not (msgsnd(IPC_NOWAIT) fails with EAGAIN).
 * With the default capacity restored instead, the fourth message fits.
 *
 * noauto: CRIU 4.2 dumps msg_qbytes (ipcns-msg image, "qbytes: 6000" in
 * the restore log) but never applies it: the restored queue has the
 * namespace default (16384).  A queue whose capacity had been raised
 * above kernel.msgmnb (with CAP_SYS_RESOURCE) and that holds more than
 * that could not even be refilled on restore.
 */
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include "zdtmtst.h"

#define KEY_Q 0x5a0f0101
#define QBYTES 6000
#define LEN 2000

struct msg {
	long mtype;
	char mtext[LEN];
};

int main(int argc, char **argv)
{
	static struct msg m;
	struct msqid_ds ds;
	int q, i, ret = 0;

	test_init(argc, argv);

	q = msgget(KEY_Q, IPC_CREAT | IPC_EXCL | 0600);
	if (q < 0) {
		if (errno == ENOSYS)
			skip("no SysV IPC in this kernel");
		pr_perror("msgget");
		return 1;
	}
	if (msgctl(q, IPC_STAT, &ds)) {
		pr_perror("IPC_STAT");
		goto err;
	}
	if (ds.msg_qbytes < 4 * LEN) {
		pr_err("the default msg_qbytes (%lu) is too small for this test", (unsigned long)ds.msg_qbytes);
		goto err;
	}
	ds.msg_qbytes = QBYTES;
	if (msgctl(q, IPC_SET, &ds)) {
		pr_perror("IPC_SET msg_qbytes = %d", QBYTES);
		goto err;
	}
	m.mtype = 1;
	memset(m.mtext, 'q', LEN);
	for (i = 0; i < 2; i++)
		if (msgsnd(q, &m, LEN, IPC_NOWAIT)) {
			pr_perror("msgsnd");
			goto err;
		}

	test_daemon();
	test_waitsig();

	if (msgctl(q, IPC_STAT, &ds)) {
		fail("IPC_STAT after restore");
		goto err;
	}
	if (ds.msg_qnum != 2 || ds.__msg_cbytes != 2 * LEN) {
		fail("the queue holds %lu messages / %lu bytes, expected 2 / %d", (unsigned long)ds.msg_qnum,
		     (unsigned long)ds.__msg_cbytes, 2 * LEN);
		ret = 1;
	}
	if (ds.msg_qbytes != QBYTES) {
		fail("msg_qbytes is %lu after restore, was set to %d", (unsigned long)ds.msg_qbytes, QBYTES);
		ret = 1;
	}
	if (msgsnd(q, &m, LEN, IPC_NOWAIT)) {
		fail("a third message does not fit any more");
		ret = 1;
	}
	errno = 0;
	if (msgsnd(q, &m, LEN, IPC_NOWAIT) == 0 || errno != EAGAIN) {
		fail("a fourth message fits (or fails otherwise): the queue no longer has a capacity of %d bytes",
		     QBYTES);
		ret = 1;
	}
	msgctl(q, IPC_RMID, NULL);
	if (!ret)
		pass();
	return ret;
err:
	msgctl(q, IPC_RMID, NULL);
	return 1;
}
