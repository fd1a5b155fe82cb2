//! lcd-hook: the per-shell helper. The shell starts it once with `serve` and
//! writes records to its standard input. It never prints and always exits 0:
//! nothing it does may make the user's shell fail.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let code = match args.next().as_deref().and_then(|a| a.to_str()) {
        Some("serve") => match lcd_hook::serve::parse_args(args) {
            Some(config) => lcd_hook::serve::serve(config, 0),
            None => 0,
        },
        _ => 0,
    };
    std::process::exit(code);
}
