//! A small shell-line reader: enough of the shell's grammar to find the
//! simple commands of a line and their words (quotes and escapes removed).
//! It never fails: text it does not understand just becomes words.

/// The simple commands of `line` (split at `|`, `||`, `&&`, `;`, `&`,
/// newlines and parentheses), each as its words.
pub fn simple_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    // Depth of $( … ) and `…` inside a word: their content stays in the word.
    let mut nested = 0usize;
    let finish_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(escaped) => word.push(escaped),
                }
            }
            '\'' if nested == 0 => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' if nested == 0 => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars.next().unwrap())
                        }
                        _ => word.push(q),
                    }
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                in_word = true;
                nested += 1;
                word.push('$');
                word.push(chars.next().unwrap());
            }
            ')' if nested > 0 => {
                nested -= 1;
                word.push(')');
            }
            '#' if !in_word && nested == 0 => {
                // A comment runs to the end of the line.
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
                finish_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            c if nested > 0 => word.push(c),
            // `2>&1` and `&>file` are redirections, not separators.
            '&' if in_word && (word.ends_with('>') || word.ends_with('<')) => word.push('&'),
            '&' if chars.peek() == Some(&'>') => {
                finish_word(&mut words, &mut word, &mut in_word);
                in_word = true;
                word.push('&');
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
                word.push(c);
            }
        }
    }
    finish_word(&mut words, &mut word, &mut in_word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
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
    fn redirections_are_not_separators() {
        assert_eq!(cmds("make 2>&1 >log"), vec![vec!["make", "2>&1", ">log"]]);
        assert_eq!(redirection("2>&1"), Some(false));
        assert_eq!(redirection(">"), Some(true));
        assert_eq!(redirection("plan"), None);
    }
}
