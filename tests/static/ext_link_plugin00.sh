#!/bin/sh
# criu action script of ext_link_plugin00: at setup-namespaces (restore),
# recreate each link the plugin accepted at dump (ext-link-<ifindex>.txt in
# the images: "<name> <kind>") over the host device the peer keeps
# (zi<N> -> zh<N>), with its old ifindex (criu restores the addresses by
# ifindex), and move it into the restored tree's network namespace; criu
# then configures it (flags, MTU, hardware address, addresses). Other
# stages: nothing.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] || exit 0
for f in "$CRTOOLS_IMAGE_DIR"/ext-link-*.txt; do
	[ -e "$f" ] || continue
	read -r name kind < "$f"
	index=${f##*/ext-link-}
	index=${index%.txt}
	[ "$kind" = macvtap ] || { echo "ext_link_plugin00.sh: $name: unexpected kind $kind" >&2; exit 1; }
	ip link add link "zh${name#zi}" name "$name" index "$index" type macvtap mode bridge || exit 1
	ip link set "$name" netns "$CRTOOLS_INIT_PID" || exit 1
done
