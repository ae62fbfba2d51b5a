"""The listening socket each API process of `careloop serve --workers N` opens: its
connections send each answer at once (TCP_NODELAY), as uvicorn's own sockets do. Without
it, Nagle's algorithm held an answer's second segment until the client's delayed ACK:
44 ms per keep-alive request with two processes against 0.8 ms with one."""

from __future__ import annotations

import asyncio
import socket

from api.server import _reuse_port_socket


def nodelay_of_an_accepted_connection(sock: socket.socket) -> int:
    async def run() -> int:
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accepted(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            found.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            try:
                return await asyncio.wait_for(found, 5)
            finally:
                writer.close()

    return asyncio.run(run())


def test_a_worker_socket_is_a_tcp_socket_shared_by_port() -> None:
    with _reuse_port_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1


def test_the_connections_a_worker_socket_accepts_send_without_delay() -> None:
    sock = _reuse_port_socket("127.0.0.1", 0)
    assert nodelay_of_an_accepted_connection(sock) != 0
