//! `/proc/<pid>/stat` parsing (spec section 10.3).

/// The `stat` fields the index uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatFields {
    /// The task name between the first `(` and the last `)`, untrimmed.
    pub comm: String,
    /// Field 4.
    pub ppid: u32,
    /// Field 22, clock ticks after boot.
    pub start_time: u64,
}

/// Parses `pid (comm) state ppid …`. `comm` may contain spaces and
/// parentheses, so the numeric fields are read after the **last** `)`.
pub fn parse_stat(content: &str) -> Option<StatFields> {
    let open = content.find('(')?;
    let close = content.rfind(')')?;
    let comm = content.get(open + 1..close)?;
    let mut fields = content[close + 1..].split_ascii_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    // Field 22 is the 20th after the `)`: state (3) and ppid (4) are taken.
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(StatFields {
        comm: comm.to_owned(),
        ppid,
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pid: u32, comm: &str, ppid: u32, start: u64) -> String {
        format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1234 0 0 0 12 3 0 0 20 0 4 0 {start} 12345678 567 \
             18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
    }

    #[test]
    fn plain_line() {
        let s = parse_stat(&line(1234, "nginx", 1200, 987_654)).unwrap();
        assert_eq!(
            s,
            StatFields {
                comm: "nginx".into(),
                ppid: 1200,
                start_time: 987_654
            }
        );
    }

    #[test]
    fn comm_with_spaces_and_parentheses() {
        let s = parse_stat("4321 (my app (v2)) S 1200 4321 4321 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0").unwrap();
        assert_eq!(s.ppid, 1200);
        assert_eq!(s.comm, "my app (v2)");
        assert_eq!(s.start_time, 55);
    }

    #[test]
    fn comm_that_looks_like_fields() {
        let s = parse_stat(&line(7, ") S 99 (", 3, 42)).unwrap();
        assert_eq!((s.ppid, s.start_time), (3, 42));
        assert_eq!(s.comm, ") S 99 (");
    }

    #[test]
    fn start_time_is_field_22() {
        let text = line(10, "x", 1, 777);
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields[21], "777");
        assert_eq!(parse_stat(&text).unwrap().start_time, 777);
    }

    #[test]
    fn unparsable_input() {
        for bad in [
            "",
            "1234",
            "1234 nginx S 1200",
            "1234 (nginx)",
            "1234 (nginx) S",
            "1234 (nginx) S x 1 1",
            "1234 (nginx) S 1200 1 1 0",
            "1234 (nginx) S -1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
            ")(",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }
}
