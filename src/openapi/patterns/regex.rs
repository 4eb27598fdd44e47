//! A backtracking matcher for the regex subset these patterns use (classes with `\uXXXX`,
//! `(?:…)`, `|`, `* + ? {n} {n,m}`, `^` and `$` at the ends), for checking each pattern against
//! its parser.

enum Node {
    Set(Vec<(char, char)>, bool),
    Group(Vec<Vec<Item>>),
}

struct Item {
    node: Node,
    min: usize,
    max: usize,
}

pub struct Regex {
    start: bool,
    end: bool,
    alternatives: Vec<Vec<Item>>,
}

impl Regex {
    pub fn new(pattern: &str) -> Self {
        let start = pattern.starts_with('^');
        let end = pattern.ends_with('$') && !pattern.ends_with("\\$");
        let body: Vec<char> = pattern.chars().collect();
        let body = &body[usize::from(start)..body.len() - usize::from(end)];
        let mut i = 0;
        let alternatives = alternation(body, &mut i);
        assert_eq!(i, body.len(), "unbalanced pattern {pattern}");
        Self {
            start,
            end,
            alternatives,
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let last = if self.start { 0 } else { chars.len() };
        (0..=last).any(|from| {
            any_of(&self.alternatives, &chars, from, &mut |to| {
                !self.end || to == chars.len()
            })
        })
    }
}

fn alternation(p: &[char], i: &mut usize) -> Vec<Vec<Item>> {
    let mut alternatives = vec![Vec::new()];
    while *i < p.len() && p[*i] != ')' {
        if p[*i] == '|' {
            *i += 1;
            alternatives.push(Vec::new());
            continue;
        }
        let node = atom(p, i);
        let (min, max) = quantifier(p, i);
        alternatives
            .last_mut()
            .unwrap()
            .push(Item { node, min, max });
    }
    alternatives
}

fn atom(p: &[char], i: &mut usize) -> Node {
    match p[*i] {
        '(' => {
            assert_eq!(&p[*i..*i + 3], &['(', '?', ':'], "only (?:…) groups");
            *i += 3;
            let inner = alternation(p, i);
            assert_eq!(p[*i], ')');
            *i += 1;
            Node::Group(inner)
        }
        '[' => {
            *i += 1;
            let negated = p[*i] == '^';
            *i += usize::from(negated);
            let mut ranges = Vec::new();
            while p[*i] != ']' {
                let from = character(p, i);
                if p[*i] == '-' && p[*i + 1] != ']' {
                    *i += 1;
                    ranges.push((from, character(p, i)));
                } else {
                    ranges.push((from, from));
                }
            }
            *i += 1;
            Node::Set(ranges, negated)
        }
        '.' | '^' | '$' => panic!("unsupported `{}`", p[*i]),
        _ => {
            let c = character(p, i);
            Node::Set(vec![(c, c)], false)
        }
    }
}

fn character(p: &[char], i: &mut usize) -> char {
    if p[*i] != '\\' {
        *i += 1;
        return p[*i - 1];
    }
    if p[*i + 1] == 'u' {
        let hex: String = p[*i + 2..*i + 6].iter().collect();
        *i += 6;
        return char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap();
    }
    *i += 2;
    p[*i - 1]
}

fn quantifier(p: &[char], i: &mut usize) -> (usize, usize) {
    let (min, max) = match p.get(*i) {
        Some('*') => (0, usize::MAX),
        Some('+') => (1, usize::MAX),
        Some('?') => (0, 1),
        Some('{') => {
            let close = *i + p[*i..].iter().position(|&c| c == '}').unwrap();
            let inside: String = p[*i + 1..close].iter().collect();
            *i = close;
            match inside.split_once(',') {
                None => (inside.parse().unwrap(), inside.parse().unwrap()),
                Some((min, "")) => (min.parse().unwrap(), usize::MAX),
                Some((min, max)) => (min.parse().unwrap(), max.parse().unwrap()),
            }
        }
        _ => return (1, 1),
    };
    *i += 1;
    (min, max)
}

fn any_of(
    alternatives: &[Vec<Item>],
    text: &[char],
    at: usize,
    then: &mut dyn FnMut(usize) -> bool,
) -> bool {
    alternatives
        .iter()
        .any(|sequence| all_of(sequence, text, at, then))
}

fn all_of(
    sequence: &[Item],
    text: &[char],
    at: usize,
    then: &mut dyn FnMut(usize) -> bool,
) -> bool {
    match sequence.split_first() {
        None => then(at),
        Some((item, rest)) => repeat(item, 0, text, at, &mut |next| {
            all_of(rest, text, next, then)
        }),
    }
}

fn repeat(
    item: &Item,
    count: usize,
    text: &[char],
    at: usize,
    then: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if count < item.max
        && one(&item.node, text, at, &mut |next| {
            next != at && repeat(item, count + 1, text, next, then)
        })
    {
        return true;
    }
    count >= item.min && then(at)
}

fn one(node: &Node, text: &[char], at: usize, then: &mut dyn FnMut(usize) -> bool) -> bool {
    match node {
        Node::Set(ranges, negated) => {
            at < text.len()
                && ranges
                    .iter()
                    .any(|&(from, to)| (from..=to).contains(&text[at]))
                    != *negated
                && then(at + 1)
        }
        Node::Group(alternatives) => any_of(alternatives, text, at, then),
    }
}
