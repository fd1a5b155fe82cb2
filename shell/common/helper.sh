{#- Starting this shell's lcd-hook and checking that it runs: the same code in
    both shells but for how zsh and bash detach a job (included by lcd.zsh and
    lcd.bash at the top level). -#}
# (Re)starts this shell's lcd-hook on the FIFO. The hooks call it at the
# first record and whenever the helper is gone, so a shell that runs no
# command (`zsh -i -c ...`) starts no helper and no daemon. A FIFO that still
# has a name (no /proc) is removed by the first helper once it holds it.
# Fails when lcd-hook is gone: the caller then writes nothing, since a FIFO
# no one reads would kill bash (SIGPIPE) or fill up.
_lcd_start_helper() {
{%- if shell == Shell::Zsh %}
  \builtin emulate -L zsh
{%- endif %}
  # Gone (uninstalled, moved by an upgrade): say so once, at this prompt.
  if [[ ! -x $_lcd_hook ]]; then
    [[ -n ${_lcd_hook_warned-} ]] || \builtin printf 'lcd: recording stopped: %s is missing; reinstall lcd-hook, then open a new shell\n' "$_lcd_hook" >&2
    _lcd_hook_warned=1
    \builtin return 1
  fi
{%- if shell == Shell::Zsh %}
  \builtin local r=$_lcd_fd
{%- else %}
  # The shell holds the FIFO write-only (see the end of lcd.bash): the helper
  # gets a read end of its own, opened anew through /proc and closed here.
  \builtin local r=$_lcd_fd
  [[ ! -e /proc/self/fd/$_lcd_fd ]] || \builtin exec {r}<>"/proc/self/fd/$_lcd_fd" 2>/dev/null || r=$_lcd_fd
{%- endif %}
  {
    "$_lcd_hook" serve --socket "$_lcd_socket" --spool "$_lcd_spool" --session "$LCD_SESSION" \
      --shell {{ shell.name() }} --pid "$$" --tty-fd 3 --nonblock-fd 4 --start-daemon "$_lcd_bin" --log "$_lcd_log" \
{%- if let Some(n) = spool_max_bytes %}
      --spool-max-bytes {{ n }} \
{%- endif %}
      ${_lcd_unlink:+--unlink} ${_lcd_unlink:+"$_lcd_unlink"} 3<&0 4>&"$_lcd_fd" <&"$r" >/dev/null 2>&1
{%- if shell == Shell::Zsh %} &!
{%- else %} &
{%- endif %}
  } 2>/dev/null
  _lcd_pid=$! _lcd_unlink=''
{%- if shell == Shell::Bash %}
  \builtin disown "$_lcd_pid" 2>/dev/null
  # Not `\builtin exec`: bash undoes a close made by a redirection of any
  # other command than exec itself.
  [[ $r == "$_lcd_fd" ]] || \exec {r}<&-
{%- endif %}
  \builtin return 0
}

# Whether our lcd-hook still runs. `kill -0` alone is fooled by a helper that
# died and was not reaped yet (a zombie). Where /proc exists, a zombie has no
# /proc/PID/exe: one stat, where reading /proc/PID/stat costs ~0.2 ms in zsh
# and ~0.1 ms in bash.
_lcd_helper_alive() {
  [[ -e /proc/$_lcd_pid/exe ]] && \builtin return 0
  [[ -e /proc/$$/exe ]] && \builtin return 1
  \builtin kill -0 "$_lcd_pid" 2>/dev/null
}
