"""The chat database's schema: its migrations (``PRAGMA user_version`` counts them) and the full-text index."""

MIGRATIONS: list[str] = [
    # 1: chats and the message tree
    """
    CREATE TABLE chats (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        preset TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        active_leaf INTEGER REFERENCES messages(id) ON DELETE SET NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_by_chat ON messages(chat_id);
    CREATE INDEX messages_by_parent ON messages(parent_id);
    """,
    # 2: reply state and stats, per-chat overflow policy, soft delete (undo), full-text search
    """
    ALTER TABLE messages ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
    ALTER TABLE messages ADD COLUMN stats TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN preset TEXT NOT NULL DEFAULT '';
    ALTER TABLE chats ADD COLUMN overflow TEXT NOT NULL DEFAULT 'stop';
    ALTER TABLE chats ADD COLUMN deleted_at REAL;
    CREATE INDEX chats_by_update ON chats(updated_at);
    """,
    # 3: the message tree without ON DELETE CASCADE on parent_id. SQLite runs each cascaded delete as a nested
    # trigger, so a chain of more than 1,000 messages failed to delete ("too many levels of trigger recursion").
    # The store now deletes a subtree by its ids (a recursive CTE), in one statement. Also: a partial index for the
    # start's "mark interrupted replies" (no full scan) and one for sibling lookups.
    # (Rebuilt by SQLite's 12-step recipe; the store turns foreign keys off while migrating.)
    """
    CREATE TABLE messages_new (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id),
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'done',
        stats TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        preset TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO messages_new (id, chat_id, parent_id, role, content, created_at, state, stats, model, preset)
        SELECT id, chat_id, parent_id, role, content, created_at, state, stats, model, preset FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    CREATE INDEX messages_by_chat ON messages(chat_id, parent_id);
    CREATE INDEX messages_by_parent ON messages(parent_id);
    CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming';
    """,
    # 4: a message made of parts. ``content`` stays the answer's text (search, titles, exports and the next prompt
    # read it, and an older row is unchanged); ``parts`` holds the other parts as JSON (prompting.parts): the
    # reply's reasoning today, images, documents and tool calls next. '' means none, as in every older row.
    """
    ALTER TABLE messages ADD COLUMN parts TEXT NOT NULL DEFAULT '';
    """,
    # 5: a chat's own sampling (prompting.chat_sampling: the side panel's values and JSON schema, as JSON);
    # '' means the preset's, as for every older chat.
    """
    ALTER TABLE chats ADD COLUMN settings TEXT NOT NULL DEFAULT '';
    """,
    # 6: group chats. ``chats.members``: the personas of a group chat (JSON, chat.group); '' for a one-persona chat.
    # ``messages.speaker``: the name of the character who wrote a reply (its preset id stays in ``preset``), kept
    # so that a renamed or deleted persona's lines still say who spoke; '' for every older row.
    """
    ALTER TABLE chats ADD COLUMN members TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN speaker TEXT NOT NULL DEFAULT '';
    """,
]
FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5(content, content='messages', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS message_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER IF NOT EXISTS message_search_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO message_search(rowid, content) VALUES (new.id, new.content);
END;
"""
SCHEMA_VERSION = len(MIGRATIONS)
