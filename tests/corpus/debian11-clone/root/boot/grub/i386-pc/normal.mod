normal.mod placeholder
