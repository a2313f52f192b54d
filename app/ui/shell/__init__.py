"""The window's shell: its menu bar and the keyboard's ways through it."""
