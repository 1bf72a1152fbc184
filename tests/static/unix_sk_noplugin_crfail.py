"""unix_sk_noplugin_crfail: unix_sk_plugin00's connection to a service
outside the tree (unix_sk_plugin00.peer), without its criu plugin: criu
cannot dump one half of a stream connection and must refuse ("External
socket is used"). After the refused dump the connection and the peer's
state about it are intact: the peer still lists the subscription and a
publication still reaches this connection."""
import os
import socket
import time

import zdtmtst as t

SOCK_NAME = "sub.peer.sock"


def connect(path):
    for _ in range(1000):       # the peer starts beside the test
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sk.connect(path)
            return sk
        except OSError:
            sk.close()
            time.sleep(0.01)
    t.fail("can't connect to the peer at %s" % path)
    raise SystemExit(1)


def ask(stream, req, want):
    if req is not None:
        stream.write(req + "\n")
        stream.flush()
    line = stream.readline().rstrip("\n")
    t.check(line == want, "%s: the peer answered %r, expected %r" % (req, line, want))


t.init()
sk = connect(os.path.join(os.getcwd(), SOCK_NAME))
sk.settimeout(5)
stream = sk.makefile("rw")
ask(stream, "SUB alpha", "OK SUB alpha 1")

t.daemon()
t.waitsig()

ask(stream, "LIST", "SUBS alpha")
ask(stream, "PUBLISH alpha", "EVENT alpha")
ask(stream, None, "OK PUBLISH 1")
t.finish()
