//! The few system calls std does not wrap that the helper needs.

pub use lcd_protocol::sys::{euid, hostname, process_exists, user_name};

use std::os::fd::RawFd;
use std::time::Duration;

/// The terminal device open on `fd`, if it is one.
pub fn tty_name(fd: RawFd) -> Option<String> {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(fd) } != 1 {
        return None;
    }
    let mut buf = [0u8; 512];
    // SAFETY: the buffer is valid for its length.
    let rc = unsafe { libc::ttyname_r(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we were handed and never use again.
    unsafe { libc::close(fd) };
}

/// Ignores the signals a terminal sends to its jobs, so that closing the
/// terminal or pressing Ctrl-C at the prompt cannot kill the helper while it
/// still holds records.
pub fn ignore_terminal_signals() {
    for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGPIPE, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: SIG_IGN is a valid disposition for these signals.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

pub fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

/// Waits until `fd` is readable (or closed), at most `timeout`.
pub fn wait_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    rc > 0
}

pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own, with valid flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}
