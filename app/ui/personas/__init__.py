"""The persona panel and the preset editor."""
