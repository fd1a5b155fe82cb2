//! Commands that will never end: their shell died (killed, terminal closed)
//! before it could report the end. They become `unknown` rather than
//! `running` forever.

use lcd_protocol::sys::process_exists;

use crate::store::Maintenance;

/// A maintenance task: running commands of shells on this host whose process
/// is gone are marked `unknown`. Returns how many.
pub fn mark_orphans(host: String) -> Maintenance {
    Box::new(move |store| {
        let gone: Vec<String> = store
            .running_on(&host)?
            .into_iter()
            .filter(|(_, pid)| u32::try_from(*pid).map_or(true, |pid| !process_exists(pid)))
            .map(|(id, _)| id)
            .collect();
        Ok(store.mark_unknown(&gone)? as u64)
    })
}
