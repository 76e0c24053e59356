"""Suite-wide guard: the tests run only inside a network namespace that has just loopback.

`bash scripts/test.sh` (and so `.ci/run`) starts pytest under `unshare -n`; run any other way,
the suite stops at once instead of letting a client reach past 127.0.0.1.
"""

import socket

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    others = sorted(name for _, name in socket.if_nameindex() if name != "lo")
    if others:
        pytest.exit(
            f"network interfaces {others} are visible: run the tests in a loopback-only "
            "namespace (bash scripts/test.sh, or unshare -n sh -c 'ip link set lo up; pytest')",
            returncode=3,
        )
