{#- What both scripts say about how they work (included by lcd.zsh and lcd.bash). -#}
# One lcd-hook per shell, started at the first record, reads records from a
# FIFO that the hooks below write to with builtins: no fork, no exec, and
# never a wait for the daemon. Records written while the helper is down wait
# in the FIFO for the next one. No program this shell runs can read them: zsh
# holds the FIFO read-write but close-on-exec (so a write cannot raise
# SIGPIPE), bash write-only (bash cannot make a descriptor close-on-exec).
