"""What the integration pages share."""

LIST = 50  # rows shown per list on a page
