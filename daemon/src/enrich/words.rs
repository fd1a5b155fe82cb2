//! A small shell-line reader: enough of the shell's grammar to find the
//! simple commands of a line and their words (quotes and escapes removed).
//! It never fails: text it does not understand just becomes words.

/// A word of a command line: its text once quotes and escapes are removed,
/// and where each character of that text was typed, so that a part of the
/// word can be replaced in the line as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Byte range in the line of each character of `text`.
    spans: Vec<(usize, usize)>,
}

impl Word {
    /// The range of the line that typed `text[from..]` (a byte index of
    /// `text` on a character boundary), without the quote that closes it.
    pub fn typed_from(&self, from: usize) -> Option<(usize, usize)> {
        let first = self.text[..from].chars().count();
        let start = self.spans.get(first)?.0;
        Some((start, self.spans.last()?.1))
    }
}

/// The simple commands of `line` (split at `|`, `||`, `&&`, `;`, `&`,
/// newlines and parentheses), each as its words.
pub fn simple_commands(line: &str) -> Vec<Vec<String>> {
    command_words(line).into_iter().map(|words| words.into_iter().map(|w| w.text).collect()).collect()
}

/// [`simple_commands`], with where each character of each word was typed.
pub fn command_words(line: &str) -> Vec<Vec<Word>> {
    let mut commands = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut word = Word { text: String::new(), spans: Vec::new() };
    let mut in_word = false;
    let mut chars = line.char_indices().peekable();
    // Depth of $( … ) and `…` inside a word: their content stays in the word.
    let mut nested = 0usize;
    let finish_word = |words: &mut Vec<Word>, word: &mut Word, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::replace(word, Word { text: String::new(), spans: Vec::new() }));
            *in_word = false;
        }
    };
    let push = |word: &mut Word, c: char, at: usize| word_push(word, c, at, at + c.len_utf8());
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some((_, '\n')) | None => {}
                    Some((e, escaped)) => word_push(&mut word, escaped, at, e + escaped.len_utf8()),
                }
            }
            '\'' if nested == 0 => {
                in_word = true;
                for (q_at, q) in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    push(&mut word, q, q_at);
                }
            }
            // ANSI-C quoting, $'…': a backslash keeps the character after it.
            '$' if nested == 0 && matches!(chars.peek(), Some((_, '\''))) => {
                in_word = true;
                chars.next();
                while let Some((q_at, q)) = chars.next() {
                    match q {
                        '\'' => break,
                        '\\' => {
                            if let Some((e, escaped)) = chars.next() {
                                word_push(&mut word, escaped, q_at, e + escaped.len_utf8());
                            }
                        }
                        _ => push(&mut word, q, q_at),
                    }
                }
            }
            '"' if nested == 0 => {
                in_word = true;
                while let Some((q_at, q)) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some((_, '"' | '\\' | '$' | '`'))) => {
                            let (e, escaped) = chars.next().unwrap();
                            word_push(&mut word, escaped, q_at, e + escaped.len_utf8());
                        }
                        _ => push(&mut word, q, q_at),
                    }
                }
            }
            '$' if matches!(chars.peek(), Some((_, '('))) => {
                in_word = true;
                nested += 1;
                push(&mut word, '$', at);
                let (p_at, p) = chars.next().unwrap();
                push(&mut word, p, p_at);
            }
            ')' if nested > 0 => {
                nested -= 1;
                push(&mut word, ')', at);
            }
            '#' if !in_word && nested == 0 => {
                // A comment runs to the end of the line.
                for (_, q) in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
                finish_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if nested > 0 => push(&mut word, c, at),
            // `2>&1` and `&>file` are redirections, not separators.
            '&' if in_word && (word.text.ends_with('>') || word.text.ends_with('<')) => push(&mut word, '&', at),
            '&' if matches!(chars.peek(), Some((_, '>'))) => {
                finish_word(&mut words, &mut word, &mut in_word);
                in_word = true;
                push(&mut word, '&', at);
            }
            '|' | '&' | ';' | '\n' | '(' | ')' => {
                finish_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if c.is_whitespace() => finish_word(&mut words, &mut word, &mut in_word),
            c => {
                in_word = true;
                push(&mut word, c, at);
            }
        }
    }
    finish_word(&mut words, &mut word, &mut in_word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

/// Adds a character typed with the escape before it (from `start` to `end`).
fn word_push(word: &mut Word, c: char, start: usize, end: usize) {
    word.text.push(c);
    word.spans.push((start, end));
}

/// Whether `word` is a redirection (`>file`, `2>&1`, `<in`); `Some(true)`
/// when its target is the next word.
pub fn redirection(word: &str) -> Option<bool> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit() || c == '&');
    let op_len = ["<<<", ">>", "<<", ">|", "<>", ">&", "<&", ">", "<"].iter().find(|op| rest.starts_with(**op))?.len();
    Some(rest.len() == op_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(line: &str) -> Vec<Vec<String>> {
        simple_commands(line)
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(cmds(r#"echo 'a b' "c \"d\"" e\ f"#), vec![vec!["echo", "a b", "c \"d\"", "e f"]]);
    }

    #[test]
    fn lines_split_at_operators() {
        let got = cmds("cd infra && terraform plan | tee out; (git push) & echo done");
        let firsts: Vec<&str> = got.iter().map(|c| c[0].as_str()).collect();
        assert_eq!(firsts, ["cd", "terraform", "tee", "git", "echo"]);
    }

    #[test]
    fn substitutions_stay_inside_their_word() {
        assert_eq!(cmds("echo $(git rev-parse HEAD) x"), vec![vec!["echo", "$(git rev-parse HEAD)", "x"]]);
    }

    #[test]
    fn each_character_knows_where_it_was_typed() {
        let line = r#"set 'k=a b' k="x\"y" $'p\'q' z"#;
        let words = &command_words(line)[0];
        let typed = |w: &Word, from| w.typed_from(from).map(|(s, e)| &line[s..e]);
        assert_eq!(words[1].text, "k=a b");
        assert_eq!(typed(&words[1], 2), Some("a b"));
        assert_eq!(typed(&words[2], 2), Some(r#"x\"y"#));
        assert_eq!(words[3].text, "p'q");
        assert_eq!(typed(&words[3], 0), Some(r"p\'q"));
        assert_eq!(typed(&words[4], 0), Some("z"));
    }

    #[test]
    fn redirections_are_not_separators() {
        assert_eq!(cmds("make 2>&1 >log"), vec![vec!["make", "2>&1", ">log"]]);
        assert_eq!(redirection("2>&1"), Some(false));
        assert_eq!(redirection(">"), Some(true));
        assert_eq!(redirection("plan"), None);
    }
}
