  # Where /proc can reopen a descriptor (Linux), this shell's FIFO is a pipe
  # with no name: a process substitution's pipe, reopened read-write through
  # /proc. No one else can open it, and nothing is left to remove however the
  # shell ends, whoever kills what.
  \builtin local fifo=''
  _lcd_unlink=''{%- if shell == Shell::Zsh %}
  # Close-on-exec: the programs this shell runs must not read our records.
  \builtin zmodload -F zsh/system b:sysopen 2>/dev/null || \builtin return 0
{%- endif %}
  if [[ ! -e /proc/self/fd ]]; then
    # Elsewhere lcd init made a FIFO for this shell: its name holds our pid.
    # A copy of this script cached by another process, or one that lcd init
    # could not make a FIFO for, makes its own. Ours (-O) as well: in a
    # folder anyone else could write to, a FIFO of theirs would hand them
    # every command line. The first helper removes the name; a shell gone
    # before that leaves it to the next lcd init, which removes the FIFOs of
    # shells that are gone.
    fifo={% if let Some(made) = fifo %}{{ made }}{% else %}''{% endif %}
    if [[ $fifo != */hook.$$.* || ! -p $fifo || ! -O $fifo ]]; then
      fifo={{ runtime }}/hook.$$.$RANDOM
      \command mkfifo -m 600 -- "$fifo" 2>/dev/null || \builtin return 0
    fi
    _lcd_unlink=$fifo
  fi
  if [[ -n $fifo ]]; then
{%- if shell == Shell::Zsh %}
    \builtin sysopen -rw -o cloexec,nofollow -u _lcd_fd "$fifo"
  else
    \builtin sysopen -rw -o cloexec -u _lcd_fd <(\builtin :)
  fi 2>/dev/null || { _lcd_fd=''; \builtin return 0; }
{%- else %}
    \builtin exec {_lcd_fd}<>"$fifo"
  else
    \builtin exec {_lcd_fd}<> <(\builtin :)
  fi || { _lcd_fd=''; \builtin return 0; }
{%- endif %}
