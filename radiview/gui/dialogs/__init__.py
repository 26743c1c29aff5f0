"""Dialogs: each only collects or presents values; the main window acts on them."""
