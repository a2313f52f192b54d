"""The model bar, load options, remote engines and the local server page, over the shared engine service."""
