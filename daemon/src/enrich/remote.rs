//! Which hosted repository a remote URL names: `owner/name` and the host.

/// (host, owner/name) of a remote URL: https, http, ssh, git, and scp-like
/// `git@host:owner/name.git`; any host (GitHub Enterprise, GitLab, ...).
pub fn parse_remote(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => {
            let (authority, path) = rest.split_once('/')?;
            let host = authority.rsplit('@').next()?;
            let host = host.split(':').next()?; // drop a port
            (host, path)
        }
        None => {
            // scp-like: [user@]host:path (not a local path)
            let (authority, path) = url.split_once(':')?;
            if authority.contains('/') {
                return None;
            }
            (authority.rsplit('@').next()?, path)
        }
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if host.is_empty() || !path.contains('/') {
        return None;
    }
    Some((host.to_ascii_lowercase(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Option<(String, String)> {
        parse_remote(url)
    }

    #[test]
    fn every_form_of_remote() {
        let acme = Some(("github.com".to_string(), "acme/infra".to_string()));
        assert_eq!(parsed("https://github.com/acme/infra.git"), acme);
        assert_eq!(parsed("https://github.com/acme/infra"), acme);
        assert_eq!(parsed("https://token@github.com/acme/infra.git"), acme);
        assert_eq!(parsed("git@github.com:acme/infra.git"), acme);
        assert_eq!(parsed("ssh://git@github.com:22/acme/infra.git"), acme);
        assert_eq!(parsed("git://github.com/acme/infra"), acme);
        assert_eq!(
            parsed("git@github.acme.corp:platform/infra.git"),
            Some(("github.acme.corp".into(), "platform/infra".into()))
        );
        assert_eq!(
            parsed("https://gitlab.com/group/sub/proj.git"),
            Some(("gitlab.com".into(), "group/sub/proj".into()))
        );
        assert_eq!(parsed("/srv/git/infra.git"), None);
        assert_eq!(parsed("../infra"), None);
    }
}
