"""sim stage (see DESIGN.md section 2)."""
