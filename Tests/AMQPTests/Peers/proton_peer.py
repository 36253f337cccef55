"""An independent AMQP 1.0 peer for Kumo's AMQP client tests: a small broker built on Apache Qpid Proton.

Messages sent to an address are queued and delivered, in order, to receivers attached to that address.
The broker advertises a small max-frame-size (4096), so larger messages cross the wire in several transfer
frames both ways. It prints "listening <port>" once ready and runs until its standard input closes.
Usage: proton_peer.py PORT (0 picks a free one)
"""

import collections
import socket
import sys
import threading

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


class Broker(MessagingHandler):
    def __init__(self, url):
        super().__init__(auto_accept=False, auto_settle=True)
        self.url = url
        self.queues = collections.defaultdict(collections.deque)
        self.consumers = collections.defaultdict(list)

    def on_start(self, event):
        event.container.listen(self.url)
        print(f"listening {self.url.rsplit(':', 1)[1]}", flush=True)

    def on_connection_bound(self, event):
        event.transport.max_frame_size = 4096
        event.connection.container = "kumo-proton-peer"

    def on_link_opening(self, event):
        link = event.link
        if link.is_sender:
            address = link.remote_source.address
            link.source.address = address
            self.consumers[address].append(link)
        else:
            link.target.address = link.remote_target.address

    def on_link_closing(self, event):
        self._forget(event.link)

    def on_disconnected(self, event):
        for address in list(self.consumers):
            self.consumers[address] = [link for link in self.consumers[address] if link.connection != event.connection]

    def _forget(self, link):
        if link.is_sender:
            address = link.source.address
            if link in self.consumers.get(address, []):
                self.consumers[address].remove(link)

    def on_sendable(self, event):
        self._pump(event.link.source.address)

    def on_message(self, event):
        message = event.message
        address = event.link.target.address
        if message.properties and message.properties.get("reject") is True:
            self.reject(event.delivery)
            return
        self.queues[address].append(message)
        self.accept(event.delivery)
        self._pump(address)

    def _pump(self, address):
        queue = self.queues[address]
        for link in self.consumers.get(address, []):
            while queue and link.credit > 0:
                link.send(queue.popleft())


def main():
    port = sys.argv[1]
    if port == "0":
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
        probe.close()
    container = Container(Broker(f"127.0.0.1:{port}"))
    container.container_id = "kumo-proton-peer"
    thread = threading.Thread(target=container.run, daemon=True)
    thread.start()
    sys.stdin.read()
    container.stop()


if __name__ == "__main__":
    main()
