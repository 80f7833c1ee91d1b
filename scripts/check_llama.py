"""Check a llama-server build before anything relies on it: start it on a free loopback
port with the model, wait for /health, ask for one token, stop it.

    python3 scripts/check_llama.py LLAMA_SERVER MODEL.gguf LOG_FILE

Exit 0 when it answered. Otherwise one line on stderr saying what happened (the signal
that killed it, with its likely cause), where the log is, and what to set; exit 1.
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

START_SECONDS = 120.0
FIX = (
    "set MODELPORT_LLAMA_CMAKE_ARGS to flags this CPU allows (for example "
    '"-DGGML_NATIVE=OFF" for the generic baseline) and run again, or point '
    "MODELPORT_LLAMA_SERVER at a llama-server that works here"
)
CAUSES = {
    signal.SIGILL: "an instruction this CPU (or VM) does not allow, though it may advertise it",
    signal.SIGSEGV: "most often an instruction set the CPU advertises but the VM does not "
    "allow (AMX, AVX-512), or a broken build",
    signal.SIGBUS: "a broken build or model file",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def died(code: int, log: str) -> str:
    if code < 0:
        sig = signal.Signals(-code)
        cause = CAUSES.get(sig, "see the log")
        return f"llama-server was killed by {sig.name} while starting ({cause}); log: {log}; {FIX}."
    return f"llama-server exited with status {code} while starting; log: {log}; {FIX}."


def get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check(binary: str, model: str, log: str) -> str | None:
    """``None`` when the server answered one token, else why not (one line)."""
    if not os.access(binary, os.X_OK):
        return f"{binary} is not an executable file; {FIX}."
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-c", "512"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            code = process.poll()
            if code is not None:
                return died(code, log)
            try:
                status, _ = get(url + "/health", 1.0)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                return f"llama-server did not become healthy in {START_SECONDS:.0f} s; log: {log}."
            time.sleep(0.25)
        body = json.dumps({"prompt": "Hello", "n_predict": 1}).encode()
        request = urllib.request.Request(
            url + "/completion", data=body, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                reply = json.loads(response.read())
        except (OSError, ValueError) as exc:
            code = process.poll()
            if code is not None:
                return died(code, log)
            return f"llama-server did not answer a one-token completion ({exc}); log: {log}."
        if not isinstance(reply, dict) or "content" not in reply:
            return f"llama-server answered a completion without content; log: {log}."
        return None
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    problem = check(*sys.argv[1:])
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
