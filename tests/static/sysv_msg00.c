/*
 * sysv_msg00: System V message queues in the test's own ipc namespace
 * (flavors ns/uns only: criu dumps SysV IPC as part of an ipc namespace).
 *
 * Queue Q (key KEY_Q, mode 0640, the default msg_qbytes) holds seven
 * messages of types 1 2 3 1 5 2 7 and sizes 100 0 2000 7 4000
 * 513 1, each filled with its own datagen2 data (CRC kept); queue P
 * (IPC_PRIVATE, mode 0600) is empty; helper W blocks in msgrcv(Q, type 9).
 * After restore:
 *  - the key still finds Q's id; IPC_STAT of both: mode, owner uid/gid,
 *    msg_qbytes (as before the dump), message count (7 / 0) and bytes (sum / 0);
 *  - the messages come out of Q by type selection exactly as the kernel
 *    orders them: type 5; type -2 (the oldest of the lowest type <= 2:
 *    the first type-1 message); anything but 2 (MSG_EXCEPT: the type-3
 *    one); then in FIFO order 2/0, 1/7, 2/513, 7/1 -- each with its size and
 *    contents -- and then Q is empty (IPC_NOWAIT: ENOMSG);
 *  - a type-9 message sent now reaches W, still blocked in msgrcv, which
 *    checks its contents and exits 0.
 * A msg_qbytes changed by IPC_SET is in sysv_msg_qbytes00 (noauto: criu
 * does not restore it).
 */
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include "zdtmtst.h"

#define KEY_Q 0x5a0f0001
#define MAXLEN 4000

struct msgdef {
	long type;
	size_t len;
	uint32_t crc;
};

static struct msgdef msgs[] = {
	{ 1, 100 }, { 2, 0 }, { 3, 2000 }, { 1, 7 }, { 5, 4000 }, { 2, 513 }, { 7, 1 },
};

struct msgbuf_big {
	long mtype;
	unsigned char mtext[MAXLEN];
};

static const char wake_text[] = "for W, sent after restore";
static int q = -1, p = -1;

static int helper_w(void *arg)
{
	struct msgbuf_big m;
	ssize_t n;

	(void)arg;
	do
		n = msgrcv(q, &m, MAXLEN, 9, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		pr_perror("helper W: msgrcv(type 9)");
		return 1;
	}
	if (m.mtype != 9 || n != (ssize_t)sizeof(wake_text) || memcmp(m.mtext, wake_text, n)) {
		pr_err("helper W: got type %ld, %zd bytes, not the wake-up message", m.mtype, n);
		return 1;
	}
	return 0;
}

static int check_stat(const char *name, int id, unsigned int mode, unsigned long qnum, unsigned long cbytes,
		      unsigned long qbytes)
{
	struct msqid_ds ds;

	if (msgctl(id, IPC_STAT, &ds)) {
		fail("queue %s: IPC_STAT of id %d", name, id);
		return 1;
	}
	if ((ds.msg_perm.mode & 0777) != mode || ds.msg_perm.uid != geteuid() || ds.msg_perm.gid != getegid() ||
	    ds.msg_qnum != qnum || ds.__msg_cbytes != cbytes || (qbytes && ds.msg_qbytes != qbytes)) {
		fail("queue %s: mode %o uid %d gid %d qnum %lu cbytes %lu qbytes %lu; "
		     "expected %o %d %d %lu %lu %lu",
		     name, ds.msg_perm.mode & 0777, (int)ds.msg_perm.uid, (int)ds.msg_perm.gid,
		     (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes, mode,
		     (int)geteuid(), (int)getegid(), qnum, cbytes, qbytes);
		return 1;
	}
	return 0;
}

/* receive with (type, flags) and expect message number idx of msgs[] */
static int recv_expect(long type, int flags, int idx)
{
	static struct msgbuf_big m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	n = msgrcv(q, &m, MAXLEN, type, flags | IPC_NOWAIT);
	if (n < 0) {
		fail("msgrcv(type %ld, flags %#x) for message %d (type %ld, %zu bytes)", type, flags, idx,
		     msgs[idx].type, msgs[idx].len);
		return 1;
	}
	if (m.mtype != msgs[idx].type || (size_t)n != msgs[idx].len) {
		fail("msgrcv(type %ld, flags %#x) gave type %ld with %zd bytes, expected message %d: type %ld, %zu bytes",
		     type, flags, m.mtype, n, idx, msgs[idx].type, msgs[idx].len);
		return 1;
	}
	if (datachk2(m.mtext, n, msgs[idx].crc)) {
		fail("message %d (type %ld, %zd bytes): contents changed", idx, m.mtype, n);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct msgbuf_big m;
	struct msqid_ds ds;
	unsigned long total = 0, qbytes;
	unsigned int i;
	int ret = 0, code;
	pid_t w;

	test_init(argc, argv);

	q = msgget(KEY_Q, IPC_CREAT | IPC_EXCL | 0640);
	if (q < 0) {
		if (errno == ENOSYS)
			skip("no SysV IPC in this kernel");
		pr_perror("msgget Q");
		return 1;
	}
	p = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (p < 0) {
		pr_perror("msgget P");
		goto err;
	}
	if (msgctl(q, IPC_STAT, &ds)) {
		pr_perror("IPC_STAT");
		goto err;
	}
	qbytes = ds.msg_qbytes;
	for (i = 0; i < ARRAY_SIZE(msgs); i++) {
		m.mtype = msgs[i].type;
		datagen2(m.mtext, msgs[i].len, &msgs[i].crc);
		if (msgsnd(q, &m, msgs[i].len, IPC_NOWAIT)) {
			pr_perror("msgsnd message %u", i);
			goto err;
		}
		total += msgs[i].len;
	}
	w = test_fork_helper(helper_w, NULL);
	if (w < 0) {
		pr_perror("fork");
		goto err;
	}

	test_daemon();
	test_waitsig();

	if (msgget(KEY_Q, 0) != q) {
		fail("msgget(key %#x) gives %d, expected id %d", KEY_Q, msgget(KEY_Q, 0), q);
		ret = 1;
	}
	ret |= check_stat("Q", q, 0640, ARRAY_SIZE(msgs), total, qbytes);
	ret |= check_stat("P", p, 0600, 0, 0, 0);

	if (!ret) {
		ret |= recv_expect(5, 0, 4);
		ret |= recv_expect(-2, 0, 0);
		ret |= recv_expect(2, MSG_EXCEPT, 2);
		ret |= recv_expect(0, 0, 1);
		ret |= recv_expect(0, 0, 3);
		ret |= recv_expect(0, 0, 5);
		ret |= recv_expect(0, 0, 6);
		errno = 0;
		if (msgrcv(q, &m, MAXLEN, 0, IPC_NOWAIT) >= 0 || errno != ENOMSG) {
			fail("queue Q has more messages than were sent (type %ld)", m.mtype);
			ret = 1;
		}
	}

	m.mtype = 9;
	memcpy(m.mtext, wake_text, sizeof(wake_text));
	if (msgsnd(q, &m, sizeof(wake_text), IPC_NOWAIT)) {
		fail("msgsnd of the wake-up message");
		ret = 1;
	}
	code = wait_exit_code(w);
	if (code) {
		fail("helper W (blocked in msgrcv) exited with %d", code);
		ret = 1;
	}

	msgctl(q, IPC_RMID, NULL);
	msgctl(p, IPC_RMID, NULL);
	if (!ret)
		pass();
	return ret;
err:
	/* a helper blocked in msgrcv fails with EIDRM */
	msgctl(q, IPC_RMID, NULL);
	if (p >= 0)
		msgctl(p, IPC_RMID, NULL);
	return 1;
}
