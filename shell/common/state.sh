  # This machine's lcd, quoted by lcd init.
  _lcd_hook={{ hook }} _lcd_bin={{ lcd }}
  _lcd_socket={{ socket }} _lcd_spool={{ spool }} _lcd_log={{ hook_log }}

  # This shell's session id: a UUIDv7 (time in ms, then random bits and our pid).
  \builtin local s=${EPOCHREALTIME%%[.,]*} f=${EPOCHREALTIME#*[.,]}000
  \builtin local ms=$(( s * 1000 + 10#${f:0:3} ))
  \builtin printf -v LCD_SESSION '%08x-%04x-7%03x-%04x-%04x%08x' \
    $(( ms >> 16 )) $(( ms & 0xffff )) $(( RANDOM & 0xfff )) $(( 0x8000 | (RANDOM & 0x3fff) )) \
    $(( RANDOM )) $(( ((RANDOM << 17) ^ ($$ << 9) ^ RANDOM) & 0xffffffff ))
  \builtin export LCD_SESSION
