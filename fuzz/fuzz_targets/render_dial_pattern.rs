//! The dial-pattern checker on arbitrary text: an accepted pattern holds only pattern
//! characters, so it cannot add arguments, applications or lines to the dialplan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rayan::render::check_dial_pattern;

fuzz_target!(|data: &[u8]| {
    let Ok(pattern) = std::str::from_utf8(data) else {
        return;
    };
    if check_dial_pattern(pattern).is_ok() {
        assert!(
            pattern
                .chars()
                .all(|c| c.is_ascii_digit() || "_*#+XZNxzn[]-.!".contains(c)),
            "{pattern:?}"
        );
    }
});
