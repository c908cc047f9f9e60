"""The pys3local admin console (Textual)."""
