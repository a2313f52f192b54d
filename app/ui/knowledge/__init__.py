"""The Knowledge page: collections of documents, their files and indexing, search."""
