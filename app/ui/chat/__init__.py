"""The chat column: the open conversation and its turns, the message view, stored chats and their versions."""
