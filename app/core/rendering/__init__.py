"""Qt-free text helpers for the faces' rendering: code fences in streaming Markdown, syntax colours, code blocks."""
