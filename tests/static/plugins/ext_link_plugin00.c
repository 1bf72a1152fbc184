/*
 * criu plugin for ext_link_plugin00: a network device criu does not know
 * (a macvtap over a veth end of the host's, which the test's "runtime", its
 * peer, provides).
 *
 * DUMP_EXT_LINK(index, type, kind): criu offers each link of a kind it
 * cannot dump. Ours: kind macvtap, named zi<N>. Accept it (criu then dumps
 * it as an external link: its flags, MTU and addresses, not the device)
 * and leave "<name> <kind>" in ext-link-<index>.txt in the images, for the
 * action script (ext_link_plugin00.sh) that creates it again at
 * setup-namespaces on restore. Anything else: -ENOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "criu-plugin.h"

static int dump_ext_link(int index, int type, char *kind)
{
	char name[IF_NAMESIZE], file[64];
	FILE *out;
	int fd;

	if (strcmp(kind, "macvtap"))
		return -ENOTSUP;
	/* criu collects the links from inside the namespace: the name is there */
	if (!if_indextoname(index, name)) {
		fprintf(stderr, "ext_link_plugin00: no name for link %d: %m\n", index);
		return -1;
	}
	if (strncmp(name, "zi", 2))
		return -ENOTSUP;
	snprintf(file, sizeof(file), "ext-link-%d.txt", index);
	fd = openat(criu_get_image_dir(), file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	out = fd < 0 ? NULL : fdopen(fd, "w");
	if (!out || fprintf(out, "%s %s\n", name, kind) < 0 || fclose(out)) {
		fprintf(stderr, "ext_link_plugin00: can't write %s: %m\n", file);
		return -1;
	}
	fprintf(stderr, "ext_link_plugin00: link %d %s (%s, type %d) is external\n", index, name, kind, type);
	return 0;
}

CR_PLUGIN_REGISTER_DUMMY("zdtm_ext_link_plugin00")
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_LINK, dump_ext_link)
