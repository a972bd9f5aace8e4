#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd): stores every accepted message as DIR/N.eml.

Usage: sink.py PORT DIR [REFUSE]
  REFUSE: how many messages to refuse first with 451 (a temporary failure), to test retries.
Prints "listening" once it accepts connections.
"""
import asyncio
import pathlib
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory: pathlib.Path, refuse: int):
        self.directory = directory
        self.refuse = refuse
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.count += 1
        path = self.directory / f"{self.count}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    refuse = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(directory, refuse), hostname="127.0.0.1", port=port)
    controller.start()
    print("listening", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
