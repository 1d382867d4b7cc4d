"""Panel viewer (see the viewer issue); nothing here yet."""
