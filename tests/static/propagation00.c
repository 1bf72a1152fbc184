/*
 * propagation00: shared and slave mounts (mount propagation) in the test's
 * own mount namespace (mount(2): suid; flavors ns/uns only).
 *
 * A tmpfs is mounted at prop_a and made shared; prop_c is a bind of prop_a
 * (so a peer: same peer group) and prop_b a bind of prop_a made a slave of
 * that group.  A tmpfs then mounted at prop_a/before propagates to
 * prop_c/before (peer) and prop_b/before (slave), each itself shared or
 * slave likewise.  After restore:
 *  - the propagation tags of these six mounts (shared:N, master:N) describe
 *    the same groups as before the dump, up to renumbering: prop_a and
 *    prop_c peers, prop_b their slave, and the same for the .../before
 *    mounts;
 *  - prop_{a,b,c}/before are one mount each, showing the same file;
 *  - propagation still works: a tmpfs mounted now at prop_a/after appears
 *    at prop_c/after and prop_b/after (a file written into it is seen
 *    through all three); one mounted at prop_c/from_c appears at
 *    prop_a/from_c and prop_b/from_c; one mounted at prop_b/slave_only
 *    (the slave) does not propagate back: prop_a/slave_only and
 *    prop_c/slave_only stay plain directories.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

static const char *const points[] = {
	"prop_a", "prop_b", "prop_c", "prop_a/before", "prop_b/before", "prop_c/before",
};
#define NPOINTS ((int)ARRAY_SIZE(points))

struct tags {
	int shared, master;
};

static int read_tags(struct tags *t, const char *when)
{
	char path[PATH_MAX];
	struct nsu_mount m;
	int i, n;

	for (i = 0; i < NPOINTS; i++) {
		if (nsu_abspath(points[i], path, sizeof(path)))
			return -1;
		n = nsu_mount_at(path, &m, NULL);
		if (n != 1) {
			fail("%s: %d mounts at %s, expected one", when, n, points[i]);
			return -1;
		}
		t[i].shared = nsu_tag(m.optional, "shared");
		t[i].master = nsu_tag(m.optional, "master");
		test_msg("%s: %s: %s", when, points[i], m.optional);
	}
	return 0;
}

/* the group numbers after restore must be a consistent renaming of those before */
static int same_groups(const struct tags *a, const struct tags *b)
{
	int i, j;

	for (i = 0; i < NPOINTS; i++) {
		if (!a[i].shared != !b[i].shared || !a[i].master != !b[i].master) {
			fail("%s: propagation changed: shared:%d master:%d before, shared:%d master:%d after",
			     points[i], a[i].shared, a[i].master, b[i].shared, b[i].master);
			return 1;
		}
		for (j = 0; j < NPOINTS; j++) {
			const int *ga[] = { &a[i].shared, &a[i].master }, *gb[] = { &b[i].shared, &b[i].master };
			const int *ha[] = { &a[j].shared, &a[j].master }, *hb[] = { &b[j].shared, &b[j].master };
			int x, y;

			for (x = 0; x < 2; x++)
				for (y = 0; y < 2; y++) {
					if (!*ga[x] || !*ha[y])
						continue;
					if ((*ga[x] == *ha[y]) != (*gb[x] == *hb[y])) {
						fail("%s %s and %s %s: the same group before the dump %s, not after",
						     points[i], x ? "master" : "shared", points[j],
						     y ? "master" : "shared", *ga[x] == *ha[y] ? "but" : "(not)");
						return 1;
					}
				}
		}
	}
	return 0;
}

/* mount a tmpfs at origin/sub, write a file into it; expect the mount (and
 * the file) at each seen/sub, and no mount at each unseen/sub */
static int propagates(const char *origin, const char *sub, const char *const *seen, const char *const *unseen)
{
	char made[64], rel[64], file[80];
	int ret = 0, n;

	snprintf(made, sizeof(made), "%s/%s", origin, sub);
	if (nsu_tmpfs_at(made, "zdtm-prop-new")) {
		fail("mount a tmpfs at %s after restore", made);
		return 1;
	}
	snprintf(file, sizeof(file), "%s/f", made);
	if (nsu_put_file(file, made, 0)) {
		fail("write %s", file);
		return 1;
	}
	for (; *seen; seen++) {
		snprintf(rel, sizeof(rel), "%s/%s", *seen, sub);
		snprintf(file, sizeof(file), "%s/f", rel);
		n = nsu_mount_at_rel(rel, NULL, NULL);
		if (n != 1 || !nsu_file_is(file, made)) {
			fail("a mount made at %s did not propagate to %s (%d mounts there)", made, rel, n);
			ret = 1;
		}
	}
	for (; *unseen; unseen++) {
		snprintf(rel, sizeof(rel), "%s/%s", *unseen, sub);
		n = nsu_mount_at_rel(rel, NULL, NULL);
		if (n != 0) {
			fail("a mount made at %s propagated to %s (%d mounts there)", made, rel, n);
			ret = 1;
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	static const char *const to_bc[] = { "prop_b", "prop_c", NULL };
	static const char *const to_ab[] = { "prop_a", "prop_b", NULL };
	static const char *const to_ac[] = { "prop_a", "prop_c", NULL };
	static const char *const none[] = { NULL };
	struct tags before[NPOINTS], after[NPOINTS];
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	int ret = 0, i;

	test_init(argc, argv);

	if (nsu_abspath("prop_a", a, sizeof(a)) || nsu_abspath("prop_b", b, sizeof(b)) ||
	    nsu_abspath("prop_c", c, sizeof(c)) || mkdir(a, 0755) || mkdir(b, 0755) || mkdir(c, 0755)) {
		pr_perror("mkdir");
		return 1;
	}
	if (mount("zdtm-prop", a, "tmpfs", 0, "size=1m") || mount(NULL, a, NULL, MS_SHARED, NULL)) {
		pr_perror("shared tmpfs at %s", a);
		return 1;
	}
	if (mkdir("prop_a/before", 0755) || mkdir("prop_a/after", 0755) || mkdir("prop_a/from_c", 0755) ||
	    mkdir("prop_a/slave_only", 0755)) {
		pr_perror("mkdir in prop_a");
		return 1;
	}
	if (mount(a, c, NULL, MS_BIND, NULL)) {
		pr_perror("bind %s -> %s", a, c);
		return 1;
	}
	if (mount(a, b, NULL, MS_BIND, NULL) || mount(NULL, b, NULL, MS_SLAVE, NULL)) {
		pr_perror("slave bind %s -> %s", a, b);
		return 1;
	}
	if (nsu_tmpfs_at("prop_a/before", "zdtm-prop-before") || nsu_put_file("prop_a/before/f", "before", 0)) {
		pr_perror("mount at prop_a/before");
		return 1;
	}
	if (read_tags(before, "before the dump"))
		return 1;
	if (!before[0].shared || before[0].shared != before[2].shared || before[1].master != before[0].shared ||
	    before[1].shared) {
		pr_err("the kernel did not set up the propagation as expected");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (read_tags(after, "after restore"))
		return 1;
	ret |= same_groups(before, after);
	for (i = 3; i < NPOINTS; i++) {
		char f[64];

		snprintf(f, sizeof(f), "%s/f", points[i]);
		if (!nsu_file_is(f, "before")) {
			fail("%s does not show the file of the mount made at prop_a/before", f);
			ret = 1;
		}
	}

	ret |= propagates("prop_a", "after", to_bc, none);
	ret |= propagates("prop_c", "from_c", to_ab, none);
	ret |= propagates("prop_b", "slave_only", none, to_ac);

	if (!ret)
		pass();
	return ret;
}
