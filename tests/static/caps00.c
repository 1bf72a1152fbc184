/*
 * caps00: capability sets, the bounding set, ambient capabilities and
 * securebits.  suid: a non-root process can't hold capabilities here (no
 * ambient caps can be raised without them), so the test starts as root
 * (uid 0 stays, which also keeps criu's dump as root possible) and drops to:
 *   permitted   CHOWN DAC_OVERRIDE FOWNER KILL SETUID SETGID
 *               NET_BIND_SERVICE NET_RAW
 *   effective   CHOWN KILL NET_RAW
 *   inheritable KILL NET_BIND_SERVICE
 *   ambient     KILL
 *   bounding    everything but SYS_BOOT MKNOD AUDIT_WRITE SYS_TIME
 *   securebits  SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS
 * After restore: capget() and every PR_CAPBSET_READ / PR_CAP_AMBIENT_IS_SET
 * / PR_GET_SECUREBITS answer must be the same, and the sets must work:
 * chown() of --filename succeeds (CHOWN effective), opening a mode-000 file
 * owned by another uid fails (DAC_OVERRIDE not effective) until
 * DAC_OVERRIDE is raised from the permitted set, and raising SYS_ADMIN
 * into the effective set is refused (not permitted).
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "a file to chown and open", 1);

#define C(x) (1ULL << (x))

static const uint64_t want_prm = C(CAP_CHOWN) | C(CAP_DAC_OVERRIDE) | C(CAP_FOWNER) | C(CAP_KILL) |
				 C(CAP_SETUID) | C(CAP_SETGID) | C(CAP_NET_BIND_SERVICE) | C(CAP_NET_RAW);
static const uint64_t want_eff = C(CAP_CHOWN) | C(CAP_KILL) | C(CAP_NET_RAW);
static const uint64_t want_inh = C(CAP_KILL) | C(CAP_NET_BIND_SERVICE);
static const uint64_t want_amb = C(CAP_KILL);
static const uint64_t dropped_bnd = C(CAP_SYS_BOOT) | C(CAP_MKNOD) | C(CAP_AUDIT_WRITE) | C(CAP_SYS_TIME);
static const int want_secbits = SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS;

static int last_cap;
static uint64_t bnd_before;

static int get_caps(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int set_caps(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};

	return syscall(SYS_capset, &h, d);
}

static uint64_t read_set(int option)
{
	uint64_t set = 0;
	int c;

	for (c = 0; c <= last_cap; c++) {
		int r = option == PR_CAPBSET_READ ? prctl(PR_CAPBSET_READ, c, 0, 0, 0)
						  : prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0);
		if (r > 0)
			set |= C(c);
	}
	return set;
}

static int check_sets(void)
{
	uint64_t eff, prm, inh, amb, bnd;
	int sb, ret = 0;

	if (get_caps(&eff, &prm, &inh)) {
		fail("capget");
		return 1;
	}
	if (eff != want_eff || prm != want_prm || inh != want_inh) {
		fail("caps eff %#llx prm %#llx inh %#llx, expected %#llx %#llx %#llx", (unsigned long long)eff,
		     (unsigned long long)prm, (unsigned long long)inh, (unsigned long long)want_eff,
		     (unsigned long long)want_prm, (unsigned long long)want_inh);
		ret = 1;
	}
	amb = read_set(PR_CAP_AMBIENT);
	if (amb != want_amb) {
		fail("ambient caps %#llx, expected %#llx", (unsigned long long)amb, (unsigned long long)want_amb);
		ret = 1;
	}
	bnd = read_set(PR_CAPBSET_READ);
	if (bnd != bnd_before) {
		fail("bounding set %#llx, expected %#llx", (unsigned long long)bnd, (unsigned long long)bnd_before);
		ret = 1;
	}
	sb = prctl(PR_GET_SECUREBITS);
	if (sb != want_secbits) {
		fail("securebits %#x, expected %#x", sb, want_secbits);
		ret = 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	char *lc, other[4096];
	int fd, c, ret = 0;

	test_init(argc, argv);

	if (getuid() != 0)
		skip("needs to start as root (suid)");
	lc = read_file("/proc/sys/kernel/cap_last_cap", NULL);
	last_cap = lc ? atoi(lc) : CAP_LAST_CAP;
	free(lc);

	/* a file only DAC_OVERRIDE can open, and one to chown */
	snprintf(other, sizeof(other), "%s.other", filename);
	fd = open(other, O_CREAT | O_WRONLY | O_TRUNC, 0);
	if (fd < 0 || fchown(fd, 18943, 58467)) {
		pr_perror("create %s", other);
		return 1;
	}
	close(fd);
	fd = open(filename, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) {
		pr_perror("create %s", filename);
		return 1;
	}
	close(fd);

	for (c = 0; c <= last_cap; c++)
		if ((dropped_bnd & C(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0)) {
			pr_perror("PR_CAPBSET_DROP %d", c);
			return 1;
		}
	bnd_before = read_set(PR_CAPBSET_READ);
	if (bnd_before & dropped_bnd) {
		pr_err("the bounding set still has dropped caps");
		return 1;
	}
	if (prctl(PR_SET_SECUREBITS, want_secbits)) {
		pr_perror("PR_SET_SECUREBITS");
		return 1;
	}
	if (set_caps(want_eff, want_prm, want_inh)) {
		pr_perror("capset");
		return 1;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0)) {
		pr_perror("PR_CAP_AMBIENT_RAISE");
		return 1;
	}
	if (check_sets()) {
		pr_err("capabilities wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_sets();
	if (ret)
		goto out;
	if (chown(filename, 12345, 54321)) {
		fail("chown with CAP_CHOWN effective");
		ret = 1;
	}
	fd = open(other, O_RDONLY);
	if (fd >= 0 || errno != EACCES) {
		fail("a mode-000 file of another uid could be opened without DAC_OVERRIDE effective");
		ret = 1;
	}
	if (fd >= 0)
		close(fd);
	if (set_caps(want_eff | C(CAP_DAC_OVERRIDE), want_prm, want_inh)) {
		fail("raising DAC_OVERRIDE from the permitted set");
		ret = 1;
	}
	fd = open(other, O_RDONLY);
	if (fd < 0) {
		fail("can't open the mode-000 file with DAC_OVERRIDE effective");
		ret = 1;
	} else {
		close(fd);
	}
	if (set_caps(want_eff | C(CAP_SYS_ADMIN), want_prm, want_inh) == 0 || errno != EPERM) {
		fail("CAP_SYS_ADMIN could be raised though it is not permitted");
		ret = 1;
	}
out:
	if (!ret)
		pass();
	return ret;
}
