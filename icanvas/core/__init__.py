"""The bottom of the stack, no torch: errors and Failure, paths under the root, the one image decoder, atomic
writes, the theme table, and the process's world (the one module that reads environment variables)."""
