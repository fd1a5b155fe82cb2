  # lcd init made a FIFO for this shell: its name holds our pid. A copy of
  # this script cached by another process, or one that lcd init could not
  # make a FIFO for, makes its own.
  \builtin local fifo={% if let Some(made) = fifo %}{{ made }}{% else %}''{% endif %}
  if [[ $fifo != */hook.$$.* || ! -p $fifo ]]; then
    fifo={{ runtime }}/hook.$$.$RANDOM
    \command mkfifo -m 600 -- "$fifo" 2>/dev/null || \builtin return 0
  fi
  \builtin exec {_lcd_fd}<>"$fifo" || { _lcd_fd=''; \builtin return 0; }
