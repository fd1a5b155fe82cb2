//! Guards on what ships: the hook binary stays small in what it pulls in.

use std::process::Command;

use anyhow::Result;

#[test]
fn lcd_hook_depends_on_no_heavy_crate() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "lcd-hook", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout)?;
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"postcard"), "unexpected tree:\n{tree}");
    for heavy in ["tokio", "reqwest", "rusqlite", "clap", "hyper", "serde_json"] {
        assert!(!crates.contains(&heavy), "lcd-hook depends on {heavy}:\n{tree}");
    }
    Ok(())
}
