{#- The fish integration that `lcd init fish` prints: an askama template
    rendered from the typed options in daemon/src/cli/init.rs. fish shares
    no code with the zsh and bash scripts (another language), but the same
    record format and the same helper. Shell code in this file must never
    hold a brace directly followed by '{', '%' or '#': those open template
    tags. -#}
# lcd: record every command typed at this prompt.
# Load it from ~/.config/fish/config.fish with:  lcd init fish | source
#
# One lcd-hook per shell, started at the first record, reads the records
# the hooks below append to a file of this shell's in lcd's private runtime
# folder, with builtins only: no fork, no exec, and never a wait for the
# daemon. fish can keep no descriptor open between commands, and opening a
# FIFO whose reader died would hang the shell; an append never waits. The
# helper cuts what it read out of the file, so it takes no room.
# The hooks leave $status and $pipestatus as they were, and record nothing
# in private mode (fish --private) or for a line that starts with a space.

# Loading twice keeps the helper, the session and the file we already have.
if not builtin set -q _lcd_file
    # This machine's lcd, quoted by lcd init.
    builtin set -g _lcd_hook {{ hook }}
    builtin set -g _lcd_bin {{ lcd }}
    builtin set -g _lcd_socket {{ socket }}
    builtin set -g _lcd_spool {{ spool }}
    builtin set -g _lcd_log {{ hook_log }}
    builtin set -g _lcd_file {{ runtime }}/hook.$fish_pid.{{ nonce }}.rec
    # This shell's session id, made by lcd init for this shell (a UUIDv7):
    # fish has no clock to make one with.
    builtin set -gx LCD_SESSION {{ session }}
    builtin set -g _lcd_seq 0
    builtin set -g _lcd_pid 0
    builtin set -g _lcd_armed ''
end

# (Re)starts this shell's lcd-hook on the file. The hooks call it at the
# first record and whenever the helper is gone, so a shell that runs no
# command (`fish -i -c ...`) starts no helper and no daemon.
function _lcd_start_helper
    # Gone (uninstalled, moved by an upgrade): say so once, at this prompt.
    if not builtin test -x $_lcd_hook
        builtin set -q _lcd_hook_warned
        or builtin printf 'lcd: recording stopped: %s is missing; reinstall lcd-hook, then open a new shell\n' $_lcd_hook >&2
        builtin set -g _lcd_hook_warned 1
        return 1
    end
    $_lcd_hook serve --socket $_lcd_socket --spool $_lcd_spool --session $LCD_SESSION \
        --shell fish --pid $fish_pid --tty-fd 3 --tail $_lcd_file --start-daemon $_lcd_bin --log $_lcd_log \
{%- if let Some(n) = spool_max_bytes %}
        --spool-max-bytes {{ n }} \
{%- endif %}
        3<&0 </dev/null >/dev/null 2>&1 &
    builtin set -g _lcd_pid $last_pid
    builtin disown $_lcd_pid 2>/dev/null
    return 0
end

# Whether our lcd-hook still runs: a zombie has no /proc/PID/exe. Without
# /proc, the helper started once is taken to run.
function _lcd_helper_alive
    builtin test -e /proc/$_lcd_pid/exe; and return 0
    builtin test -e /proc/$fish_pid/exe; and return 1
    builtin test $_lcd_pid -ne 0
end

# Appends one record: NUL-terminated fields, then a field holding 0x1e.
# fish strings hold no NUL, so no text can end a field early.
function _lcd_write
    _lcd_helper_alive; or _lcd_start_helper; or return 0
    builtin printf '%s\0' $argv \x1e >>$_lcd_file 2>/dev/null
    return 0
end

function _lcd_preexec --on-event fish_preexec
    builtin set -q fish_private_mode; and return 0
    # A leading space means "keep this out of the record", as fish keeps it
    # out of its history.
    builtin string match -q -- ' *' $argv[1]; and return 0
    builtin set -g _lcd_seq (builtin math $_lcd_seq + 1)
    builtin set -g _lcd_armed $_lcd_seq
    # Then one field per allowlisted variable that is exported.
    builtin set -l v
{%- for name in env %}
    builtin set -qx {{ name }}; and builtin set -a v "v={{ name }}=${{ name }}"
{%- endfor %}
    _lcd_write S n=$_lcd_seq d=$PWD c=$argv[1] $v
end

function _lcd_postexec --on-event fish_postexec
    # First, before anything can change them: the command's statuses.
    builtin set -l s $status $pipestatus
    builtin test -n "$_lcd_armed"; or return 0
    _lcd_write E n=$_lcd_armed s=$s[1] "p=$s[2..-1]" m=$CMD_DURATION
    builtin set -g _lcd_armed ''
end
