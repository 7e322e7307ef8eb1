"""The segments area of the UI: the builder, saved segments and their tabs."""
