//! A model of how Kamailio 5.6.3 reads `dispatcher.list` (`ds_load_list`,
//! dispatch.c) and `address.list` (`reload_address_file_table`, address.c),
//! byte by byte, including the `fgets(line, 1024, f)` split of long lines. The
//! renderers' property tests check that Kamailio would read back exactly what
//! was meant.

const LINE_BUFFER: usize = 1024;

/// One destination as `ds_load_list` would add it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsEntry {
    pub set_id: i32,
    pub uri: String,
    pub flags: i32,
    pub priority: i32,
    /// After `ds_set_attrs` dropped one trailing `;`.
    pub attrs: String,
}

/// One entry as `reload_address_file_table` would insert it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEntry {
    pub group: u32,
    pub address: String,
    /// After `reload_address_insert` turned 0 into the host mask.
    pub mask: u32,
    pub port: u32,
    pub tag: Option<String>,
}

/// What `fgets` hands the parser: at most 1023 bytes, up to and including `\n`.
fn fgets_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let limit = rest.len().min(LINE_BUFFER - 1);
        let end = rest[..limit]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(limit, |i| i + 1);
        lines.push(&rest[..end]);
        rest = &rest[end..];
    }
    lines
}

struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The C code stops at the string's NUL.
    fn peek(&self) -> u8 {
        self.line.get(self.pos).copied().unwrap_or(0)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
    }

    fn at_end_or_comment(&self) -> bool {
        matches!(self.peek(), 0 | b'#')
    }

    fn digits_i32(&mut self) -> i32 {
        let mut n: i32 = 0;
        while self.peek().is_ascii_digit() {
            n = n
                .wrapping_mul(10)
                .wrapping_add(i32::from(self.peek() - b'0'));
            self.pos += 1;
        }
        n
    }

    fn digits_u32(&mut self) -> u32 {
        let mut n: u32 = 0;
        while self.peek().is_ascii_digit() {
            n = n
                .wrapping_mul(10)
                .wrapping_add(u32::from(self.peek() - b'0'));
            self.pos += 1;
        }
        n
    }

    fn token(&mut self, stop_at_hash: bool) -> String {
        let start = self.pos;
        while !(matches!(self.peek(), 0 | b' ' | b'\t' | b'\r' | b'\n')
            || stop_at_hash && self.peek() == b'#')
        {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.line[start..self.pos]).into_owned()
    }
}

/// `Err` where Kamailio fails the reload with "bad line".
pub fn parse_dispatcher_list(text: &str) -> Result<Vec<DsEntry>, String> {
    let mut entries = Vec::new();
    for line in fgets_lines(text.as_bytes()) {
        let mut c = Cursor { line, pos: 0 };
        c.skip_ws();
        if c.at_end_or_comment() {
            continue;
        }
        let set_id = c.digits_i32();
        c.skip_ws();
        if c.at_end_or_comment() {
            return Err(format!("bad line {:?}", String::from_utf8_lossy(line)));
        }
        let uri = c.token(true);
        c.skip_ws();
        let mut entry = DsEntry {
            set_id,
            uri,
            flags: 0,
            priority: 0,
            attrs: String::new(),
        };
        if !c.at_end_or_comment() {
            entry.flags = c.digits_i32();
            c.skip_ws();
            if !c.at_end_or_comment() {
                entry.priority = c.digits_i32();
                c.skip_ws();
                if !c.at_end_or_comment() {
                    entry.attrs = c.token(false);
                    if entry.attrs.ends_with(';') {
                        entry.attrs.pop();
                    }
                }
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The `name=value` pairs `parse_params` finds in an attrs text, or `None`
/// when the text holds something this model does not follow (quotes, commas,
/// whitespace), which a renderer must never produce.
pub fn attr_pairs(attrs: &str) -> Option<Vec<(String, String)>> {
    if attrs.is_empty() {
        return Some(Vec::new());
    }
    if attrs.contains(['"', '\'', ',', ' ', '\t', '\r', '\n', '<', '>']) {
        return None;
    }
    attrs
        .split(';')
        .map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (!name.is_empty() && !value.contains('=')).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// `Err` where Kamailio fails the reload ("Reload failed.").
pub fn parse_address_list(text: &str) -> Result<Vec<AddressEntry>, String> {
    let mut entries = Vec::new();
    for line in fgets_lines(text.as_bytes()) {
        let mut c = Cursor { line, pos: 0 };
        c.skip_ws();
        if c.at_end_or_comment() {
            continue;
        }
        let group = c.digits_u32();
        c.skip_ws();
        if c.at_end_or_comment() {
            return Err(format!("no address in {:?}", String::from_utf8_lossy(line)));
        }
        let address = c.token(true);
        let mut entry = AddressEntry {
            group,
            address,
            mask: 0,
            port: 0,
            tag: None,
        };
        c.skip_ws();
        if !c.at_end_or_comment() {
            entry.mask = c.digits_u32();
            c.skip_ws();
            if !c.at_end_or_comment() {
                entry.port = c.digits_u32();
                c.skip_ws();
                if !c.at_end_or_comment() {
                    entry.tag = Some(c.token(true));
                }
            }
        }
        let is_v6 = entry.address.starts_with('[') || entry.address.contains(':');
        let full = if is_v6 { 128 } else { 32 };
        if entry.mask > full {
            return Err(format!("mask {} too large", entry.mask));
        }
        if entry.mask == 0 {
            entry.mask = full;
        }
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab's observations (transcripts 09, 11, 34) hold in the model.
    #[test]
    fn model_reproduces_the_lab() {
        let garbage = parse_dispatcher_list("this is not a valid line\n").unwrap();
        assert_eq!((garbage[0].set_id, garbage[0].uri.as_str()), (0, "this"));
        assert!(parse_dispatcher_list("7\n").is_err());
        let lab = parse_dispatcher_list("# c\n1 sip:127.0.0.1:5999 0 10 duid=gw5999;weight=50\n")
            .unwrap();
        assert_eq!(
            lab,
            [DsEntry {
                set_id: 1,
                uri: "sip:127.0.0.1:5999".into(),
                flags: 0,
                priority: 10,
                attrs: "duid=gw5999;weight=50".into()
            }]
        );
        let negative = parse_dispatcher_list("1 sip:127.0.0.1 0 -5 duid=x\n").unwrap();
        assert_eq!(
            (negative[0].priority, negative[0].attrs.as_str()),
            (0, "-5")
        );

        let garbage = parse_address_list("garbage line here\n1 127.0.0.2\n").unwrap();
        assert_eq!(
            garbage[0],
            AddressEntry {
                group: 0,
                address: "garbage".into(),
                mask: 32,
                port: 0,
                tag: Some("line".into())
            }
        );
        assert_eq!(garbage[1].mask, 32);
        assert!(parse_address_list("6 127.0.0.10 99\n").is_err());
        let long = format!("1 127.0.0.1 32 0 {}\n", "t".repeat(1100));
        assert_eq!(
            parse_address_list(&long).unwrap().len(),
            2,
            "a long line is read as two"
        );
    }
}
