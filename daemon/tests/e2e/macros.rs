//! `shell_test!`: a test written once that runs in every shell lcd supports,
//! as one test per shell, so that one shell's failure never hides another's.

/// Defines `NAME_zsh` and `NAME_bash`, each running the body in a fresh
/// [`TestEnv`](lcd_testkit::TestEnv) with that shell. What the body asks for
/// picks the set-up:
///
/// - `shell_test!(name, |env, mut sh: Shell| { ... })`: the daemon runs
///   in-process and `sh` is a shell with lcd's hooks loaded (its kind is
///   `sh.kind`); the set-up most tests share.
/// - `shell_test!(name, |env, kind: ShellKind| { ... })`: only the
///   environment and the shell's kind, for a test that starts the daemon or
///   loads the hooks its own way.
///
/// The body is compiled once, as `fn name`, and each shell's test calls it.
/// Adding a shell is one line in the `@shells` rule.
macro_rules! shell_test {
    ($name:ident, |$env:ident, mut $sh:ident: Shell| $body:block) => {
        fn $name($env: &::lcd_testkit::TestEnv, mut $sh: ::lcd_testkit::Shell) -> ::anyhow::Result<()> $body
        shell_test!(@shells $name, crate::hooked);
    };
    ($name:ident, |$env:ident, $kind:ident: ShellKind| $body:block) => {
        fn $name($env: &::lcd_testkit::TestEnv, $kind: ::lcd_testkit::ShellKind) -> ::anyhow::Result<()> $body
        shell_test!(@shells $name, crate::in_env);
    };
    (@shells $name:ident, $setup:path) => {
        shell_test!(@shell $name, $setup, zsh, Zsh);
        shell_test!(@shell $name, $setup, bash, Bash);
    };
    (@shell $name:ident, $setup:path, $suffix:ident, $kind:ident) => {
        ::pastey::paste! {
            #[test]
            fn [<$name _ $suffix>]() -> ::anyhow::Result<()> {
                $setup(::lcd_testkit::ShellKind::$kind, $name)
            }
        }
    };
}
