"""A child process for the store faults: ``python -m tests.faults.store_writer MODE DB [SECONDS]``.

- ``stream``: a chat whose reply grows forever (saved as it grows, like a streaming reply); prints each saved
  length, so that the parent can kill -9 it anywhere.
- ``hold``: take the database's write lock, print ``locked``, keep it SECONDS, write one message, commit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from app.core.history.saver import StreamingSaver
from app.core.history.store import ChatStore

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "and",
    "keeps",
    "on",
    "running",
    "through",
    "the",
    "night",
]


def stream(db: Path) -> None:
    store = ChatStore(db)
    chat = store.create_chat(model="writer")
    user = store.add_message(chat, None, "user", "Tell me a long story.")
    reply = store.add_message(chat, user.id, "assistant", "", state="streaming")
    saver = StreamingSaver(store, reply.id, interval=0.0)
    print(f"chat {chat} reply {reply.id}", flush=True)
    text, index = "", 0
    while True:
        text += WORDS[index % len(WORDS)] + " "
        index += 1
        if saver.update(text):
            print(len(text), flush=True)


def hold(db: Path, seconds: float) -> None:
    store = ChatStore(db)
    chat = store.create_chat(title="held")
    with store.transaction() as connection:
        connection.execute("UPDATE chats SET title = 'held by another process' WHERE id = ?", (chat,))
        print("locked", flush=True)
        time.sleep(seconds)
    store.add_message(chat, None, "user", "written by the process that held the lock")
    store.close()
    print("released", flush=True)


if __name__ == "__main__":
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "stream":
        stream(path)
    else:
        hold(path, float(sys.argv[3]))
