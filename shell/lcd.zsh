{#- The zsh integration that `lcd init zsh` prints: an askama template
    rendered from the typed options in daemon/src/cli/init.rs. What bash does
    alike lives in common/ and is included here. Shell code in these files
    must never hold a brace directly followed by '{', '%' or '#': those open
    template tags. -#}
# lcd: record every command typed at this prompt.
# Load it from ~/.zshrc with:  eval "$(lcd init zsh)"
#
{% include "common/about.sh" %}
# The hooks leave $?, $pipestatus, options and traps as they were.

{% include "common/helper.sh" %}

# Writes one record: NUL-terminated fields, then a field holding 0x1e.
_lcd_write() {
  # A dead helper is replaced first; what it had not read is still in the
  # FIFO. With none to be had, nothing is written: no one would read it.
  _lcd_helper_alive || _lcd_start_helper || \builtin return 0
  # A zsh string can hold NUL (typed with ^V^@, or pasted): written as is it
  # would end the field and let the rest pass for fields and records of its
  # own. Each becomes U+2400, the symbol for NUL (_lcd_init).
  \builtin print -rNu $_lcd_fd -- "${@//$'\0'/$_lcd_nul}" $'\x1e'
}

_lcd_preexec() {
  \builtin emulate -L zsh
  # A leading space means "keep this out of the record", as with HIST_IGNORE_SPACE.
  [[ $1 == ' '* ]] && \builtin return 0
  _lcd_armed=$(( ++_lcd_seq ))
  # Then one word per allowlisted variable that is exported, none for the others.
  _lcd_write S n=$_lcd_seq t=$EPOCHREALTIME d=$PWD c=$1 x=$3
  {%- for name in env %} ${${(M)${(t){{ name }}}:#*export*}:+v={{ name }}=${{ name }}}{% endfor %}
}

_lcd_precmd() {
  # First, before anything can change them: the command's statuses.
  \builtin local s=$? p="${pipestatus[*]}"
  \builtin emulate -L zsh
  [[ -n $_lcd_armed ]] || \builtin return 0
  # Ctrl-Z: $? is 128 + the stop signal and the job waits, stopped.
  \builtin local z=
  (( s < 147 || s > 150 )) || [[ -z ${(M)jobstates:#suspended:*} ]] || z=z=1
  _lcd_write E n=$_lcd_armed t=$EPOCHREALTIME s=$s p=$p $z
  _lcd_armed=
}

# The first load: this shell's state and its FIFO; the first record starts
# the helper.
_lcd_init() {
  \builtin emulate -L zsh
  \builtin zmodload zsh/datetime 2>/dev/null || \builtin return 0
  # $jobstates, to tell a stopped job from a command that exited 148.
  \builtin zmodload zsh/parameter 2>/dev/null
  \builtin typeset -g _lcd_pid= _lcd_armed= _lcd_fd _lcd_unlink
  \builtin typeset -gi _lcd_seq=0
  # As bytes, so that it is the same in every locale.
  \builtin typeset -g _lcd_nul=$'\xe2\x90\x80'

{% include "common/state.sh" %}

{% include "common/fifo.sh" %}
}

# Loading twice keeps the helper and the hooks we already have. zsh's own
# options here: under the user's `set -u`, a hook array not set yet is an error.
() {
  \builtin emulate -L zsh
  [[ -n ${_lcd_fd-} ]] || _lcd_init
  [[ -n ${_lcd_fd-} ]] || \builtin return 0
  # What add-zsh-hook does, without loading it: each function once.
  (( ${preexec_functions[(I)_lcd_preexec]} )) || preexec_functions+=(_lcd_preexec)
  (( ${precmd_functions[(I)_lcd_precmd]} )) || precmd_functions+=(_lcd_precmd)
}
\builtin unset -f _lcd_init
