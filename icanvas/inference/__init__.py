"""The one inference object (Painter) and `generate` over files, folders and stdin."""
