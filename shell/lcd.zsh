# lcd: record every command typed at this prompt.
# Load it from ~/.zshrc with:  eval "$(lcd init zsh)"
#
# One lcd-hook per shell reads records from a FIFO that the hooks below write
# to with a builtin: no fork, no exec, and never a wait for the daemon. The
# shell holds the FIFO open for reading as well, so a write cannot raise
# SIGPIPE, and records written while the helper is down wait in the FIFO for
# the next one. The hooks leave $?, $pipestatus, options and traps as they were.

# (Re)starts this shell's lcd-hook on the FIFO. Given a path, the helper
# removes it once it holds the FIFO, so nothing is left behind.
_lcd_start_helper() {
  \builtin emulate -L zsh
  {
    $_lcd_hook serve --socket $_lcd_socket --spool $_lcd_spool --session $LCD_SESSION \
      --shell zsh --pid $$ --tty-fd 3 --start-daemon $_lcd_bin --log $_lcd_log ${1:+--unlink} $1 \
      <&$_lcd_fd 3<&0 >/dev/null 2>&1 &!
  } 2>/dev/null
  _lcd_pid=$!
}

# Whether our lcd-hook still runs. `kill -0` alone is fooled by a helper that
# died and was not reaped yet (a zombie). Where /proc exists, a zombie has no
# /proc/PID/exe: one stat, where reading /proc/PID/stat costs ~0.2 ms in zsh.
_lcd_helper_alive() {
  [[ -e /proc/$_lcd_pid/exe ]] && \builtin return 0
  [[ -e /proc/$$/exe ]] && \builtin return 1
  \builtin kill -0 $_lcd_pid 2>/dev/null
}

# Writes one record: NUL-terminated fields, then a field holding 0x1e.
_lcd_write() {
  # A dead helper is replaced first; what it had not read is still in the FIFO.
  _lcd_helper_alive || _lcd_start_helper
  \builtin print -rNu $_lcd_fd -- "$@" $'\x1e'
}

_lcd_preexec() {
  \builtin emulate -L zsh
  # A leading space means "keep this out of the record", as with HIST_IGNORE_SPACE.
  [[ $1 == ' '* ]] && \builtin return 0
  _lcd_armed=$(( ++_lcd_seq ))
  _lcd_write S n=$_lcd_seq t=$EPOCHREALTIME d=$PWD c=$1 x=$3 @ENV_FIELDS@
}

_lcd_precmd() {
  # First, before anything can change them: the command's statuses.
  \builtin local s=$? p="${pipestatus[*]}"
  \builtin emulate -L zsh
  [[ -n $_lcd_armed ]] || \builtin return 0
  _lcd_write E n=$_lcd_armed t=$EPOCHREALTIME s=$s p=$p
  _lcd_armed=
}

# Loading twice keeps the helper and the hooks we already have.
if [[ -z ${_lcd_fd-} ]]; then
  () {
    \builtin emulate -L zsh
    \builtin zmodload zsh/datetime 2>/dev/null || \builtin return 0

    \builtin typeset -g _lcd_hook=@LCD_HOOK@ _lcd_bin=@LCD_BIN@
    \builtin typeset -g _lcd_socket=@SOCKET@ _lcd_spool=@SPOOL@ _lcd_log=@HOOK_LOG@
    \builtin typeset -g _lcd_pid= _lcd_armed=
    \builtin typeset -gi _lcd_seq=0

    # This shell's session id: a UUIDv7 (time in ms, then random bits and our pid).
    \builtin local s=${EPOCHREALTIME%%[.,]*} f=${EPOCHREALTIME#*[.,]}000
    \builtin local -i ms=$(( s * 1000 + 10#${f:0:3} ))
    \builtin printf -v LCD_SESSION '%08x-%04x-7%03x-%04x-%04x%08x' \
      $(( ms >> 16 )) $(( ms & 0xffff )) $(( RANDOM & 0xfff )) $(( 0x8000 | (RANDOM & 0x3fff) )) \
      $(( RANDOM )) $(( ((RANDOM << 17) ^ ($$ << 9) ^ RANDOM) & 0xffffffff ))
    \builtin export LCD_SESSION

    # lcd init made a FIFO for this shell (its name holds our pid); a cached
    # copy of this script makes its own.
    \builtin local fifo=@FIFO@
    if [[ $fifo != */hook.$$.* || ! -p $fifo ]]; then
      fifo=@RUNTIME@/hook.$$.$RANDOM
      \command mkfifo -m 600 -- $fifo 2>/dev/null || \builtin return 0
    fi
    \builtin typeset -g _lcd_fd
    \builtin exec {_lcd_fd}<>$fifo || { _lcd_fd=; \builtin return 0 }
    _lcd_start_helper $fifo
  }
fi

if [[ -n ${_lcd_fd-} ]]; then
  # What add-zsh-hook does, without loading it: each function once.
  (( ${preexec_functions[(I)_lcd_preexec]} )) || preexec_functions+=(_lcd_preexec)
  (( ${precmd_functions[(I)_lcd_precmd]} )) || precmd_functions+=(_lcd_precmd)
fi
