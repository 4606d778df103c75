import socket
import subprocess
import sys

from shipyard.processes import free_port, stop_process_group


def test_free_port_is_bindable_on_loopback():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_stop_process_group_ends_the_child_and_its_children():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "time.sleep(60)",
        ],
        start_new_session=True,
    )
    stop_process_group(parent, timeout=10)
    assert parent.poll() is not None
    survivors = subprocess.run(["pgrep", "-g", str(parent.pid)], capture_output=True, text=True)
    assert survivors.stdout.strip() == ""
