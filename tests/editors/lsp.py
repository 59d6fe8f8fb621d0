"""A minimal Language Server Protocol client: open one YAML file, collect its diagnostics.

Just enough to drive the real yaml-language-server over stdio the way an editor does
(initialize, configure the schema for the file, didOpen, wait for publishDiagnostics).
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import Any

# how many messages to read before giving up: a count, not a clock (the server answers
# every request and publishes diagnostics after validating; a silent server ends at EOF)
MAX_MESSAGES = 200


def diagnostics(command: list[str], schema: Path, file: Path, text: str, *, expect_some: bool = False) -> list[dict[str, Any]]:
    """The diagnostics yaml-language-server publishes for ``file`` holding ``text``.

    With ``expect_some`` an empty publication (sent before the schema is loaded) is skipped.
    """
    file.write_text(text, encoding="utf-8")
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    inbox: Queue[dict[str, Any] | None] = Queue()
    threading.Thread(target=_reader, args=(proc, inbox), daemon=True).start()
    uri = file.resolve().as_uri()
    try:
        _send(proc, {"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": file.parent.resolve().as_uri(), "capabilities": {"workspace": {"configuration": True}}}})
        _until(inbox, proc, lambda m: m.get("id") == 1)
        _send(proc, {"method": "initialized", "params": {}})
        settings = {"yaml": {"validate": True, "schemas": {schema.resolve().as_uri(): [file.name]}, "schemaStore": {"enable": False}}}
        _send(proc, {"method": "workspace/didChangeConfiguration", "params": {"settings": settings}})
        _send(proc, {"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}})
        found = _until(inbox, proc, lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
                       and (bool(m["params"]["diagnostics"]) or not expect_some), settings=settings)
        return found["params"]["diagnostics"]
    finally:
        proc.kill()
        proc.wait()


def _send(proc: subprocess.Popen, message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    assert proc.stdin is not None
    proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    proc.stdin.flush()


def _reader(proc: subprocess.Popen, inbox: Queue) -> None:
    out = proc.stdout
    assert out is not None
    while True:
        length = 0
        while True:
            line = out.readline()
            if not line:
                inbox.put(None)
                return
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        inbox.put(json.loads(out.read(length)))


def _until(inbox: Queue, proc: subprocess.Popen, wanted, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    for _ in range(MAX_MESSAGES):
        try:
            message = inbox.get(timeout=60)  # only a safety net for a hung server
        except Empty:
            break
        if message is None:
            break
        if message.get("method") == "workspace/configuration" and "id" in message:
            items = message["params"]["items"]
            answer = [(settings or {}).get(i.get("section", ""), None) for i in items]
            _send(proc, {"id": message["id"], "result": answer})
        elif "id" in message and "method" in message:
            _send(proc, {"id": message["id"], "result": None})  # register capability etc.
        elif wanted(message):
            return message
    raise AssertionError("yaml-language-server sent no such message")
