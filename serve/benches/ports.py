"""What benches/load.py and benches/object_store.py share: waiting for a server."""

import socket
import time


def wait_port(port, proc=None, seconds=30):
    """Returns once something accepts connections on 127.0.0.1:`port`; fails if `proc`
    (a subprocess.Popen) exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")
