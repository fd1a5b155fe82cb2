{#- The bash integration that `lcd init bash` prints: an askama template
    rendered from the typed options in daemon/src/cli/init.rs. What zsh does
    alike lives in common/ and is included here. Shell code in these files
    must never hold a brace directly followed by '{', '%' or '#': those open
    template tags. -#}
# lcd: record every command typed at this prompt.
# Load it from ~/.bashrc (last, after anything that sets PROMPT_COMMAND) with:
#   eval "$(lcd init bash)"
#
{% include "common/about.sh" %}
#
# bash has no preexec hook. PS0 (expanded after a line is read) notes the
# start time and directory through side effects of an expansion; a DEBUG trap
# that removes itself at the first command sends the start; the first entry
# of PROMPT_COMMAND sends the end and puts $? back. The command line itself
# comes from the history list, written straight to the FIFO.

# Writes the start record. $1 is the first simple command when known.
_lcd_start() {
  _lcd_started=1
  _lcd_seq=$(( _lcd_seq + 1 ))
  _lcd_helper_alive || _lcd_start_helper || \builtin return 0
  # One field per allowlisted variable that is exported, none for the others.
  \builtin local -a env
{%- for name in env %}
  [[ -n ${ {{- name }}+x} && ${ {{- name }}@a} == *x* ]] && env+=("v={{ name }}=${{ name }}")
{%- endfor %}
  {
    \builtin printf '%s\0' S "n=$_lcd_seq" "t=$_lcd_t" "d=$_lcd_d" "b=$1" "i=$_lcd_hn" "${env[@]}"
    \builtin printf 'h='

    HISTTIMEFORMAT='' \builtin history 1
    \builtin printf '\0\36\0'
  } 1>&"$_lcd_fd" 2>/dev/null
  \builtin return 0
}

# The DEBUG trap: runs before each simple command while installed, and
# uninstalls itself at the first command of a line, so loops run at full speed.
# Called from someone else's trap instead (bash-preexec runs the trap it found
# as one of its preexec functions), it leaves their trap alone.
_lcd_debug() {
  \builtin local s=$? p="${PIPESTATUS[*]}"
  if [[ -n ${_lcd_started-} ]]; then
    [[ -z ${_lcd_watch-} ]] || _lcd_reattach "$s" "$p"
    \builtin return 0
  fi
  [[ -n ${_lcd_t-} ]] || \builtin return 0
  if [[ -n ${FUNCNAME[1]-} ]]; then
    _lcd_debug_on=''
  else
    # A line that may replace PROMPT_COMMAND keeps the trap until our
    # precmd runs again, so that the trap can put it back.
    case $BASH_COMMAND in
      *PROMPT_COMMAND* | source\ * | .\ * | eval\ *) _lcd_watch=1 _lcd_say='' ;;
      *) \builtin trap - DEBUG ;;
    esac
  fi
  _lcd_ps0=''
  _lcd_start "$BASH_COMMAND"
}

# Puts _lcd_precmd back first in PROMPT_COMMAND after a line replaced it
# (`PROMPT_COMMAND="history -a"`), and ends that line's record (status $1,
# PIPESTATUS $2) as our precmd would have: now, if the prompt is being drawn
# or a new line was read.
_lcd_reattach() {
  [[ ${PROMPT_COMMAND[*]-} != *_lcd_precmd* ]] || \builtin return 0
  \builtin local prompt="${PROMPT_COMMAND[*]-}"
  _lcd_attach
  if [[ $prompt == *"$BASH_COMMAND"* ]]; then
    _lcd_end "$1" "$2"
  elif [[ -n ${_lcd_ps0-} ]]; then
    # The prompt ran nothing of ours: this trap is the first we hear of the
    # new line. End the old one, then start this one.
    _lcd_end "$1" "$2"
    _lcd_t=$EPOCHREALTIME _lcd_d=$PWD _lcd_ps0=''
    _lcd_start "$BASH_COMMAND"
  fi
  \builtin return 0
}

# Our hooks, each once: first in PROMPT_COMMAND (to see the command's $? and
# PIPESTATUS before anything else), PS0's side effects in front of the
# user's. Run at the first load, by a later one, and by the trap above.
_lcd_attach() {
  if [[ ${PROMPT_COMMAND[*]-} != *_lcd_precmd* ]]; then
    if [[ -n ${PROMPT_COMMAND+set} && ${PROMPT_COMMAND@a} == *a* ]]; then
      PROMPT_COMMAND=(_lcd_precmd "${PROMPT_COMMAND[@]}")
    else
      # shellcheck disable=SC2128,SC2178 # a string here: the array case is above
      PROMPT_COMMAND="_lcd_precmd${PROMPT_COMMAND:+$'\n'$PROMPT_COMMAND}"
    fi
  fi
  # Expanded by bash when it shows PS0, not now: the time and directory of
  # the line, and a warning, once, when our precmd has stopped running and
  # no trap of ours is left to put it back ($_lcd_say is the warning, or
  # empty while the trap watches).
  # shellcheck disable=SC2016
  \builtin local ps0='${_lcd_t:+${_lcd_warned-$_lcd_say}}${_lcd_none[${_lcd_t:+${_lcd_say:+${_lcd_warned=}}}${_lcd_t:=$EPOCHREALTIME}${_lcd_d:=$PWD}${_lcd_ps0:=1}]-}'
  [[ ${PS0-} == *"$ps0"* ]] || PS0=$ps0${PS0-}
}

_lcd_precmd() {
  # First, before anything can change them: the command's statuses.
  \builtin local s=$? p="${PIPESTATUS[*]}"
  # bash-preexec puts its own hook first in PROMPT_COMMAND, whatever the
  # order of loading; its copy of PIPESTATUS is then the command's.
  [[ ${PROMPT_COMMAND-} != __bp_precmd_invoke_cmd* || -z ${BP_PIPESTATUS+set} ]] || p="${BP_PIPESTATUS[*]}"
  _lcd_end "$s" "$p"
  # Give $? back to the rest of PROMPT_COMMAND and the prompt; under set -e
  # a failing status here would end the shell, so it stays 0 then.
  [[ $- == *e* ]] || \builtin return "$s"
}

# Writes the end record of the line started, if any, with status $1 and
# PIPESTATUS $2; readies the next line.
_lcd_end() {
  if [[ -n ${_lcd_t-} ]]; then
    # A line made only of a subshell runs no DEBUG trap here: start it now.
    [[ -n ${_lcd_started-} ]] || _lcd_start ""
    if _lcd_helper_alive || _lcd_start_helper; then
      # Ctrl-Z: $? is 128 + the stop signal and the job waits, stopped.
      # Asking the shell costs a fork, so only then.
      if (($1 < 147 || $1 > 150)) || [[ -z $(\builtin jobs -s 2>/dev/null) ]]; then
        \builtin printf 'E\0n=%s\0t=%s\0s=%s\0p=%s\0\36\0' "$_lcd_seq" "$EPOCHREALTIME" "$1" "$2" 1>&"$_lcd_fd" 2>/dev/null
      else
        \builtin printf 'E\0n=%s\0t=%s\0s=%s\0p=%s\0z=1\0\36\0' "$_lcd_seq" "$EPOCHREALTIME" "$1" "$2" 1>&"$_lcd_fd" 2>/dev/null
      fi
    fi
    # Our trap removed itself; put it back (never over someone else's).
    [[ -z ${_lcd_debug_on-} || -z ${_lcd_started-} ]] || \builtin trap '_lcd_debug' DEBUG
  fi
  _lcd_t='' _lcd_d='' _lcd_started='' _lcd_watch='' _lcd_ps0='' _lcd_say=$_lcd_stopped
  # The number the next line gets if it is saved in the history: a start
  # whose newest entry is older was kept out of it (the helper decides).
  _lcd_hn=${HISTCMD-}
}

{% include "common/helper.sh" %}

# The first load: this shell's state, its FIFO and its hooks.
_lcd_init() {
  _lcd_pid='' _lcd_unlink='' _lcd_seq=0 _lcd_t='' _lcd_d='' _lcd_started='' _lcd_debug_on='' _lcd_hn=''
  _lcd_stopped=$'lcd: recording stopped: PROMPT_COMMAND no longer runs lcd\'s hook; to resume: eval "$(lcd init bash)"\n'
  _lcd_watch='' _lcd_ps0='' _lcd_say=$_lcd_stopped
  # Always empty: PS0 expands a subscript of it for the side effects only.
  \builtin declare -gA _lcd_none

{% include "common/state.sh" %}

{% include "common/fifo.sh" %}

  _lcd_attach
}

# Loading twice keeps the helper and the hooks we already have.
if [[ -z ${_lcd_fd-} ]]; then
  _lcd_init
  if [[ -n ${_lcd_fd-} ]]; then
    # Someone else's DEBUG trap (bash-preexec, ...) stays, and starts are then
    # sent with the end. Asked here because a function does not see the
    # shell's DEBUG trap, and through our FIFO, before the helper reads it,
    # because $(trap -p) would cost a fork.
    {
      \builtin trap -p DEBUG
      \builtin printf '\n%s\n' '#lcd-end'
    } 1>&"$_lcd_fd"
    _lcd_line='' _lcd_trap=''
    while IFS= \builtin read -r -u "$_lcd_fd" _lcd_line && [[ $_lcd_line != '#lcd-end' ]]; do
      _lcd_trap+=$_lcd_line
    done
    if [[ -z $_lcd_trap ]]; then
      _lcd_debug_on=1
      \builtin trap '_lcd_debug' DEBUG
    fi
    # bash cannot make a descriptor close-on-exec, so every program this
    # shell runs inherits _lcd_fd: from here on the shell holds the FIFO
    # write-only, opened anew through /proc, and no child can read a record.
    # Without /proc (macOS) it keeps the read-write one.
    if [[ -e /proc/self/fd/$_lcd_fd ]] && \builtin exec {_lcd_line}>"/proc/self/fd/$_lcd_fd"; then
      # Not `\builtin exec`, whose close bash would undo (see _lcd_start_helper).
      \exec {_lcd_fd}<&-
      _lcd_fd=$_lcd_line
    fi
    \builtin unset _lcd_line _lcd_trap
  fi
elif [[ -n ${_lcd_fd-} ]]; then
  # Loaded again, perhaps to repair: hooks someone removed come back, and
  # the warning may be given again.
  _lcd_attach
  \builtin unset _lcd_warned
fi
\builtin unset -f _lcd_init
