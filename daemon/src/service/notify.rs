//! systemd's readiness protocol (sd_notify): one datagram to the socket named
//! by `NOTIFY_SOCKET`, when there is one. `Type=notify` units wait for it.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `READY=1`) to the service manager, if it listens.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let Ok(socket) = UnixDatagram::unbound() else { return };
    let target = target.to_string_lossy().into_owned();
    let sent = match target.strip_prefix('@') {
        // An abstract socket (Linux only).
        Some(name) => abstract_address(name).and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr)),
        None => socket.send_to(state.as_bytes(), &target),
    };
    if let Err(e) = sent {
        tracing::warn!("could not notify the service manager ({target}): {e}");
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "abstract sockets are Linux-only"))
}
