//! The listening socket: handed over by systemd (socket activation) or bound
//! by us, after making sure no other daemon answers on it.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context, Result};
use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

/// The first descriptor systemd passes (SD_LISTEN_FDS_START).
const LISTEN_FDS_START: i32 = 3;

pub fn bind(socket: &Path) -> Result<Listener> {
    if let Some(listener) = from_systemd()? {
        tracing::info!("using the socket passed by the service manager");
        return Ok(listener);
    }
    if socket.exists() {
        // Remove a stale socket only once nothing answers on it.
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            bail!("another lcd daemon already answers on {}", socket.display());
        }
        std::fs::remove_file(socket).with_context(|| format!("removing the stale socket {}", socket.display()))?;
    }
    let name = socket.to_fs_name::<GenericFilePath>()?;
    ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .reclaim_name(true)
        .create_tokio()
        .with_context(|| format!("listening on {}", socket.display()))
}

/// A listener passed by systemd (LISTEN_PID/LISTEN_FDS), if it is for us.
fn from_systemd() -> Result<Option<Listener>> {
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if !for_us || count < 1 {
        return Ok(None);
    }
    // SAFETY: systemd passes an open listening socket at descriptor 3 and we
    // take sole ownership of it here, once.
    let fd = unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) };
    let listener = interprocess::os::unix::uds_local_socket::tokio::Listener::try_from(fd)
        .context("using the socket passed by systemd")?;
    let mut listener = Listener::from(listener);
    // systemd owns the socket file; it must outlive us.
    use interprocess::local_socket::traits::tokio::Listener as _;
    listener.do_not_reclaim_name_on_drop();
    Ok(Some(listener))
}
