"""The message tree of a chat: the active path, versions (siblings), switching branches, deleting a subtree.

A mixin of ``ChatStore`` (its connection and transactions); every query here is bounded by the chat it reads, and
a subtree is deleted by its ids (a recursive query, one statement), never through a trigger chain.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from contextlib import AbstractContextManager

from app.core.history.errors import GuardedConnection, StoreError
from app.core.history.records import Message, message_of


class MessageTree:
    _db: GuardedConnection

    def transaction(self) -> AbstractContextManager[GuardedConnection]:
        raise NotImplementedError

    def message(self, message_id: int) -> Message:
        row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no message {message_id}.")
        return message_of(row)

    def active_path(self, chat_id: int) -> list[Message]:
        """The conversation as shown: root to the active leaf, each with its position among its versions."""
        leaf = self._db.execute("SELECT active_leaf FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if leaf is None:
            raise StoreError(f"There is no chat {chat_id}.")
        if leaf[0] is None:
            return []
        rows = self._db.execute(
            """
            WITH RECURSIVE path(id, depth) AS (
                SELECT ?, 0
                UNION ALL
                SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
                WHERE m.parent_id IS NOT NULL
            )
            SELECT m.* FROM path JOIN messages m ON m.id = path.id ORDER BY path.depth DESC
            """,
            (leaf[0],),
        ).fetchall()
        # Each message's versions, from one read of the chat's (id, parent) pairs: not two counts per message.
        versions: dict[int | None, list[int]] = {}
        pairs = self._db.execute("SELECT id, parent_id FROM messages WHERE chat_id = ? ORDER BY id", (chat_id,))
        for message_id, parent_id in pairs:
            versions.setdefault(parent_id, []).append(message_id)
        messages = []
        for row in rows:
            same = versions.get(row["parent_id"], [row["id"]])
            messages.append(message_of(row, (bisect_left(same, row["id"]), len(same))))
        return messages

    def siblings(self, message_id: int) -> list[int]:
        message = self.message(message_id)
        rows = self._db.execute(
            "SELECT id FROM messages WHERE chat_id = ? AND parent_id IS ? ORDER BY id",
            (message.chat_id, message.parent_id),
        )
        return [row[0] for row in rows]

    def switch_to(self, message_id: int) -> None:
        """Make the branch through ``message_id`` active (its latest descendants below it)."""
        message = self.message(message_id)
        leaf = message_id
        while True:
            child = self._db.execute(
                "SELECT id FROM messages WHERE parent_id = ? ORDER BY id DESC LIMIT 1", (leaf,)
            ).fetchone()
            if child is None:
                break
            leaf = child[0]
        self._db.execute(
            "UPDATE chats SET active_leaf = ?, updated_at = ? WHERE id = ?", (leaf, time.time(), message.chat_id)
        )

    def switch_version(self, message_id: int, step: int) -> int:
        """Show the previous (-1) or next (+1) version of a message; returns the id now shown."""
        siblings = self.siblings(message_id)
        index = siblings.index(message_id)
        target = siblings[max(0, min(len(siblings) - 1, index + step))]
        self.switch_to(target)
        return target

    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything after it in its branch; the chat shows the parent's branch."""
        message = self.message(message_id)
        with self.transaction() as db:
            # The subtree's ids by a recursive query (no depth limit), deleted in one statement: no trigger chain.
            db.execute(
                """
                WITH RECURSIVE subtree(id) AS (
                    SELECT ? UNION ALL SELECT m.id FROM messages m JOIN subtree ON m.parent_id = subtree.id
                )
                DELETE FROM messages WHERE id IN subtree
                """,
                (message_id,),
            )
        remaining = [i for i in self.siblings_of(message.chat_id, message.parent_id)]
        if remaining:
            self.switch_to(remaining[-1])
        else:
            self._db.execute(
                "UPDATE chats SET active_leaf = ?, updated_at = ? WHERE id = ?",
                (message.parent_id, time.time(), message.chat_id),
            )

    def siblings_of(self, chat_id: int, parent_id: int | None) -> list[int]:
        rows = self._db.execute(
            "SELECT id FROM messages WHERE chat_id = ? AND parent_id IS ? ORDER BY id", (chat_id, parent_id)
        )
        return [row[0] for row in rows]

    def message_count(self, chat_id: int) -> int:
        return self._db.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()[0]
