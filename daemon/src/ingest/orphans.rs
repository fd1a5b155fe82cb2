//! Commands that will never end: their shell died (killed, terminal closed)
//! before it could report the end. They become `unknown` rather than
//! `running` forever.

use crate::store::Maintenance;

/// A maintenance task: running commands of shells on this host whose process
/// is gone are marked `unknown`. Returns how many.
pub fn mark_orphans(host: String) -> Maintenance {
    Box::new(move |store| {
        let gone: Vec<String> =
            store.running_on(&host)?.into_iter().filter(|(_, pid)| !process_exists(*pid)).map(|(id, _)| id).collect();
        Ok(store.mark_unknown(&gone)? as u64)
    })
}

fn process_exists(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
