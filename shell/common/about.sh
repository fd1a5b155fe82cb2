{#- What both scripts say about how they work (included by lcd.zsh and lcd.bash). -#}
# One lcd-hook per shell reads records from a FIFO that the hooks below write
# to with builtins: no fork, no exec, and never a wait for the daemon. The
# shell holds the FIFO open for reading as well, so a write cannot raise
# SIGPIPE, and records written while the helper is down wait in the FIFO for
# the next one.
