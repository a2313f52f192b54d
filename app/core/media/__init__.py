"""Images from users and clients: checked (``images``), kept in the data folder by content (``store``)."""
