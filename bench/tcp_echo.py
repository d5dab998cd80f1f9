#!/usr/bin/env python3
"""A binary (non-HTTP) TCP echo over loopback: N round trips of 64 bytes, client and server in
two processes, one send and one recv per side per round trip. Bounded by N and a 300 s alarm."""
import os
import signal
import socket
import sys

MESSAGE = bytes(range(64))
ALARM_S = 300


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def main():
    signal.alarm(ALARM_S)
    n = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                conn.sendall(recv_exactly(conn, len(MESSAGE)))
        except (EOFError, ConnectionError):
            os._exit(0)
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(n):
        client.sendall(MESSAGE)
        recv_exactly(client, len(MESSAGE))
    client.close()
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
