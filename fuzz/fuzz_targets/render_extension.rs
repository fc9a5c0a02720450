//! Extension rendering on arbitrary field values: whatever it accepts is three sections of
//! `option=value` lines, with no comment, directive or extra section.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use rayan::model::{Extension, ExtensionAuth};
use rayan::render::{RenderSettings, render_extension};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let f: Vec<&str> = input.split('\u{1f}').collect();
    let get = |i: usize, default: &str| f.get(i).copied().unwrap_or(default).to_owned();
    let at = Utc.timestamp_opt(0, 0).single().unwrap_or_default();
    let number = get(0, "1001");
    let extension = Extension {
        id: 1,
        auth: ExtensionAuth {
            realm: get(5, "asterisk"),
            md5_cred: get(6, "0123456789abcdef0123456789abcdef"),
        },
        number,
        name: f.get(1).map(|s| (*s).to_owned()),
        template: get(2, "basic"),
        context: get(3, "from-internal"),
        codecs: f.get(7).map(|c| c.split(',').map(str::to_owned).collect()),
        max_contacts: None,
        caller_id: f.get(4).map(|s| (*s).to_owned()),
        enabled: true,
        created_at: at,
        updated_at: at,
    };
    let settings = RenderSettings {
        udp_transport: f.get(8).map(|s| (*s).to_owned()),
        ..RenderSettings::default()
    };
    let Ok(Some(block)) = render_extension(&extension, &settings) else {
        return;
    };
    let mut headers = 0;
    for line in block.body.lines() {
        assert!(!line.contains([';', '\r', '\0']), "{line:?}");
        assert!(!line.trim_start().starts_with('#'), "{line:?}");
        if line.starts_with('[') {
            assert_eq!(line, format!("[{}]", extension.number));
            headers += 1;
        } else {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not an option: {line:?}"));
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{line:?}"
            );
            assert!(!value.starts_with('>') && value.trim() == value, "{line:?}");
        }
    }
    assert_eq!(headers, 3);
});
