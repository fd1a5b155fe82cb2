//! Long words that look random, nothing naming them a secret: an API key
//! pasted as an argument (`deploy.sh 9fQ2xK7mVt3LpZ8rWc4NbY6hJd1Ge5Sa`).
//!
//! What only looks random is left alone: hexadecimal (git commits, file
//! hashes, digests, UUIDs), subresource-integrity hashes (`sha512-…`), words
//! of a path (`/nix/store/…`, `./dist/app.9f2c….js`), kebab-case names, and
//! base64 that decodes to a path.

/// The fewest characters a random word has here: shorter ones are too often
/// real words, ids or versions, and few keys are that short.
const MIN_LEN: usize = 20;

/// The byte ranges of the words of `text` that look random.
pub fn random_words(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let word_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'.' | b'~' | b'-');
    let mut spans = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if !word_byte(bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && word_byte(bytes[at]) {
            at += 1;
        }
        // base64 padding belongs to the word.
        while at < bytes.len() && bytes[at] == b'=' && at - start >= MIN_LEN {
            at += 1;
        }
        let run = &text[start..at];
        if at - start < MIN_LEN || path_like(run) {
            continue;
        }
        let mut offset = start;
        for part in run.split('.') {
            let trimmed = part.trim_start_matches('-');
            let part_start = offset + (part.len() - trimmed.len());
            if looks_random(trimmed) {
                spans.push((part_start, part_start + trimmed.len()));
            }
            offset += part.len() + 1;
        }
    }
    spans
}

/// A path, or a part of a URL after its scheme: its words are names.
fn path_like(run: &str) -> bool {
    run.starts_with(['/', '~'])
        || run.starts_with("./")
        || run.starts_with("../")
        || (run.contains('/') && run.split('/').any(|segment| segment.contains('.')))
}

/// Whether `word` (no dots) looks like a random key.
pub fn looks_random(word: &str) -> bool {
    let len = word.len();
    if len < MIN_LEN || !word.is_ascii() {
        return false;
    }
    let (mut upper, mut lower, mut digit, mut separators) = (0, 0, 0, 0);
    for b in word.bytes() {
        match b {
            b'A'..=b'Z' => upper += 1,
            b'a'..=b'z' => lower += 1,
            b'0'..=b'9' => digit += 1,
            b'-' | b'_' | b'.' | b'~' => separators += 1,
            _ => {}
        }
    }
    let hex = word.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let integrity = ["sha1-", "sha256-", "sha384-", "sha512-"].iter().any(|p| word.starts_with(p));
    if hex || integrity || digit == 0 || separators * 8 > len || !(upper > 0 && lower > 0 || len >= 32) {
        return false;
    }
    // A random word of this length from a 62-letter alphabet has about
    // log2(len) bits per character; names and words have far fewer.
    entropy(word) >= 0.82 * (len.min(64) as f64).log2() && !decodes_to_a_path(word)
}

/// Shannon entropy of the bytes of `word`, in bits per character.
fn entropy(word: &str) -> f64 {
    let mut counts = [0u32; 128];
    for b in word.bytes() {
        counts[usize::from(b & 0x7f)] += 1;
    }
    let len = word.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / len).map(|p| -p * p.log2()).sum()
}

/// Base64 whose text is a path (`L2hvbWUvYWxpY2UvLnNzaA==`): a path was
/// encoded, not a key.
fn decodes_to_a_path(word: &str) -> bool {
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut decoded = Vec::with_capacity(word.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for b in word.trim_end_matches('=').bytes() {
        let Some(v) = value(b) else { return false };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            decoded.push((bits >> count) as u8);
        }
    }
    decoded.starts_with(b"/") && decoded.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(text: &str) -> Vec<&str> {
        random_words(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn random_words_go() {
        assert_eq!(random("./deploy.sh 9fQ2xK7mVt3LpZ8rWc4NbY6hJd1Ge5Sa prod"), ["9fQ2xK7mVt3LpZ8rWc4NbY6hJd1Ge5Sa"]);
        assert_eq!(random("x wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]);
    }

    #[test]
    fn what_only_looks_random_stays() {
        for line in [
            "git checkout 3f2a9c1d4e5b6a7f8091a2b3c4d5e6f708192a3b",
            "docker pull nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
            "kubectl delete pod 9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
            "ls /nix/store/1b9p07z77phvv2hf6gm9f28syp39f1ag-bash-5.2/bin",
            "terraform import module.eks_cluster.aws_eks_node_group.workers prod-eks-cluster-2024:workers",
            "echo L2hvbWUvYWxpY2UvLnNzaC9pZF9lZDI1NTE5 | base64 -d",
            "npm i --integrity sha512-Xn0nL3Gb4mM1c2rVJy5aT8pQeW7sKfZ9oHdE6uIj0lRtYvBxCkNqPwSgUzDhFm",
            "aws ec2 describe-instances --instance-ids i-0abcd1234efgh5678",
            "cat ./dist/assets/index-4Fb9KqZ2xPq8Lm3N.js",
        ] {
            assert_eq!(random(line), Vec::<&str>::new(), "{line}");
        }
    }
}
