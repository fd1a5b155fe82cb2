  # lcd init made a FIFO for this shell: its name holds our pid. A copy of
  # this script cached by another process, or one that lcd init could not
  # make a FIFO for, makes its own. Ours (-O) as well: in a folder anyone
  # else could write to, a FIFO of theirs would hand them every command line.
  \builtin local fifo={% if let Some(made) = fifo %}{{ made }}{% else %}''{% endif %}
  if [[ $fifo != */hook.$$.* || ! -p $fifo || ! -O $fifo ]]; then
    fifo={{ runtime }}/hook.$$.$RANDOM
    \command mkfifo -m 600 -- "$fifo" 2>/dev/null || \builtin return 0
  fi
{%- if shell == Shell::Zsh %}
  # Close-on-exec: the programs this shell runs must not read our records.
  \builtin zmodload -F zsh/system b:sysopen 2>/dev/null || \builtin return 0
  \builtin sysopen -rw -o cloexec,nofollow -u _lcd_fd "$fifo" 2>/dev/null || { _lcd_fd=''; \builtin return 0; }
{%- else %}
  \builtin exec {_lcd_fd}<>"$fifo" || { _lcd_fd=''; \builtin return 0; }
{%- endif %}
