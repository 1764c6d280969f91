"""tokens stage (docs/architecture.md, "Folder map"): HeatViT-style token selectors, their training, 8-bit fixed-point
nonlinearities and the integer golden model of selection, compaction and package-token fusion.

See docs/tokens.md. Submodules are imported explicitly (``hwprune.tokens.selector`` …) so that importing
the package stays cheap for stages that do not need torch models.
"""
