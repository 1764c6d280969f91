"""lower stage (see docs/architecture.md, "Folder map")."""
