"""The reference for pipelined RPC throughput: a server that does nothing but the protocol.

    python echo_server.py SOCKET-PATH [RESULT-HEX]

Listens at SOCKET-PATH and, on each connection, reads as plebnet's control server reads
(recv_into a scratch buffer, protocol.read_frames over everything that came) and answers every
request with the compact reply [id, 0, "", result] (a requests frame with one group of them),
all replies of a read in one send.  result is
None, or the msgpack value given in hex (a real reply's result, so replies are as large as the
stack's).  No op is looked at, nothing is looked up: what remains is the msgpack decoding and
encoding and the socket traffic a Python stack cannot avoid, the ceiling for plebnet's number
on the same machine.  One connection at a time; runs until killed.
"""
from __future__ import annotations

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msgpack

from plebproto import protocol

RECV_SIZE = 1 << 18


def serve(path: str, result=None) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    print("ready", flush=True)
    pack = msgpack.Packer(use_bin_type=True).pack
    header = protocol.HEADER.pack
    read_frames = protocol.read_frames
    scratch = memoryview(bytearray(RECV_SIZE))
    while True:
        conn, _ = listener.accept()
        rbuf = bytearray()
        while True:
            n = conn.recv_into(scratch)
            if not n:
                break
            rbuf += scratch[:n]
            out = bytearray()
            for msg in read_frames(rbuf):
                if protocol.is_group(msg):      # a requests frame: one group of replies
                    body = pack([[item[0], 0, "", result] for item in msg])
                else:
                    body = pack([msg[0] if type(msg) is list else 0, 0, "", result])
                out += header(len(body))
                out += body
            if out:
                conn.sendall(out)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], msgpack.unpackb(bytes.fromhex(sys.argv[2])) if len(sys.argv) > 2 else None)
