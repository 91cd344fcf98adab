"""One module per Flowise API group."""
