//! Rendering `dispatcher.list` and `address.list`: whole files, or one body
//! per managed block (one block per dispatcher set / permissions group) for
//! the managed-section editor, which marks blocks with `#` comment lines that
//! both of Kamailio's parsers skip.
//!
//! Every entry is validated first and nothing is rendered if one fails, so a
//! line Kamailio would misread never reaches a file.

use std::collections::{BTreeMap, HashMap};

use super::error::KamailioError;
use crate::model::kamailio::address::TrustedAddress;
use crate::model::kamailio::dispatcher::Destination;
use crate::model::{FieldErrors, ObjectRef};

/// Column names, written as a comment at the top of a whole file.
pub const DISPATCHER_HEADER: &str = "# setid destination flags priority attrs";
pub const ADDRESS_HEADER: &str = "# group address netmask port tag";

/// The permissions module's default `max_subnets`: entries past it are dropped.
pub const DEFAULT_MAX_SUBNETS: usize = 512;

/// Kamailio reads lines with `fgets(line, 1024, ...)`: a longer line is split
/// and its tail read as a line of its own. Stay well below.
const MAX_LINE_LEN: usize = 1000;

/// Block id of a dispatcher set's managed block.
pub fn dispatcher_block_id(set_id: u32) -> String {
    ObjectRef::dispatcher_set(set_id).block_id()
}

/// Block id of a permissions group's managed block.
pub fn address_block_id(group: u32) -> String {
    ObjectRef::address_group(group).block_id()
}

/// The whole `dispatcher.list`: a header comment and one line per destination,
/// grouped by set. Refuses an empty list.
pub fn render_dispatcher_list(destinations: &[Destination]) -> Result<String, KamailioError> {
    Ok(whole_file(
        DISPATCHER_HEADER,
        dispatcher_blocks(destinations)?,
    ))
}

/// One `(block id, body)` per dispatcher set, in set order. Each body line ends
/// with `\n`. Refuses an empty list.
pub fn dispatcher_blocks(
    destinations: &[Destination],
) -> Result<Vec<(String, String)>, KamailioError> {
    if destinations.is_empty() {
        return Err(KamailioError::EmptyDispatcherList);
    }
    let mut seen: HashMap<(u32, &str), usize> = HashMap::new();
    let mut sets: BTreeMap<u32, String> = BTreeMap::new();
    for (index, destination) in destinations.iter().enumerate() {
        let item = || format!("destinations[{index}]");
        destination
            .validate()
            .map_err(|errors| KamailioError::Invalid {
                item: item(),
                errors,
            })?;
        if let Some(first) = seen.insert((destination.set_id, &destination.uri), index) {
            return Err(invalid(
                item(),
                "uri",
                format!(
                    "set {} already has this URI (destinations[{first}])",
                    destination.set_id
                ),
            ));
        }
        let line = destination.line();
        check_line_length(&item(), &line)?;
        let body = sets.entry(destination.set_id).or_default();
        body.push_str(&line);
        body.push('\n');
    }
    Ok(sets
        .into_iter()
        .map(|(set_id, body)| (dispatcher_block_id(set_id), body))
        .collect())
}

/// The whole `address.list`: a header comment and one line per entry, grouped
/// by group. An empty list is allowed (it trusts nobody).
pub fn render_address_list(addresses: &[TrustedAddress]) -> Result<String, KamailioError> {
    Ok(whole_file(
        ADDRESS_HEADER,
        address_blocks(addresses, DEFAULT_MAX_SUBNETS)?,
    ))
}

/// One `(block id, body)` per permissions group, in group order, refusing more
/// than `max_subnets` subnet entries (the module's `max_subnets` parameter).
pub fn address_blocks(
    addresses: &[TrustedAddress],
    max_subnets: usize,
) -> Result<Vec<(String, String)>, KamailioError> {
    let mut seen: HashMap<(u32, std::net::IpAddr, u8, u16), usize> = HashMap::new();
    let mut groups: BTreeMap<u32, String> = BTreeMap::new();
    let mut subnets = 0;
    for (index, address) in addresses.iter().enumerate() {
        let item = || format!("addresses[{index}]");
        address
            .validate()
            .map_err(|errors| KamailioError::Invalid {
                item: item(),
                errors,
            })?;
        let key = (address.group, address.ip, address.mask, address.port);
        if let Some(first) = seen.insert(key, index) {
            return Err(invalid(
                item(),
                "ip",
                format!(
                    "group {} already has {}/{} port {} (addresses[{first}])",
                    address.group, address.ip, address.mask, address.port
                ),
            ));
        }
        if !address.is_host() {
            subnets += 1;
        }
        let line = address.line();
        check_line_length(&item(), &line)?;
        let body = groups.entry(address.group).or_default();
        body.push_str(&line);
        body.push('\n');
    }
    if subnets > max_subnets {
        return Err(KamailioError::TooManySubnets {
            count: subnets,
            max: max_subnets,
        });
    }
    Ok(groups
        .into_iter()
        .map(|(group, body)| (address_block_id(group), body))
        .collect())
}

fn whole_file(header: &str, blocks: Vec<(String, String)>) -> String {
    let mut text = String::with_capacity(
        header.len() + 1 + blocks.iter().map(|(_, b)| b.len()).sum::<usize>(),
    );
    text.push_str(header);
    text.push('\n');
    for (_, body) in blocks {
        text.push_str(&body);
    }
    text
}

fn invalid(item: String, field: &str, message: String) -> KamailioError {
    let mut errors = FieldErrors::new();
    errors.push(field, message);
    KamailioError::Invalid { item, errors }
}

fn check_line_length(item: &str, line: &str) -> Result<(), KamailioError> {
    if line.len() > MAX_LINE_LEN {
        return Err(invalid(
            item.to_owned(),
            "attrs",
            format!(
                "the line would be {} characters; Kamailio splits lines over 1023",
                line.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kamailio::dispatcher::{Attributes, DispatcherState};

    fn dest(set_id: u32, uri: &str, state: DispatcherState) -> Destination {
        Destination {
            set_id,
            uri: uri.into(),
            state,
            priority: 0,
            attrs: Attributes::default(),
        }
    }

    #[test]
    fn empty_dispatcher_list_is_refused() {
        assert!(matches!(
            render_dispatcher_list(&[]),
            Err(KamailioError::EmptyDispatcherList)
        ));
        assert!(matches!(
            dispatcher_blocks(&[]),
            Err(KamailioError::EmptyDispatcherList)
        ));
    }

    #[test]
    fn dispatcher_list_is_grouped_by_set() {
        let list = [
            dest(2, "sip:127.0.0.1:5997", DispatcherState::Active),
            dest(1, "sip:127.0.0.1:5999", DispatcherState::Disabled),
            dest(
                1,
                "sip:127.0.0.1:5998",
                DispatcherState::InactiveUntilProbed,
            ),
        ];
        assert_eq!(
            render_dispatcher_list(&list).unwrap(),
            "# setid destination flags priority attrs\n\
             1 sip:127.0.0.1:5999 4 0\n\
             1 sip:127.0.0.1:5998 9 0\n\
             2 sip:127.0.0.1:5997 0 0\n"
        );
        let blocks = dispatcher_blocks(&list).unwrap();
        assert_eq!(
            blocks[0],
            (
                "Dispatcher set 1".into(),
                "1 sip:127.0.0.1:5999 4 0\n1 sip:127.0.0.1:5998 9 0\n".into()
            )
        );
        assert_eq!(blocks[1].0, "Dispatcher set 2");
    }

    #[test]
    fn one_bad_destination_renders_nothing_and_names_it() {
        let list = [
            dest(1, "sip:127.0.0.1", DispatcherState::Active),
            dest(1, "sip:gw.example.com", DispatcherState::Active),
        ];
        match render_dispatcher_list(&list) {
            Err(KamailioError::Invalid { item, errors }) => {
                assert_eq!(item, "destinations[1]");
                assert_eq!(errors.0[0].field, "uri");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let list = [
            dest(1, "sip:127.0.0.1", DispatcherState::Active),
            dest(1, "sip:127.0.0.1", DispatcherState::Disabled),
        ];
        assert!(
            matches!(render_dispatcher_list(&list), Err(KamailioError::Invalid { item, .. }) if item == "destinations[1]")
        );
        let same_uri_other_set = [
            dest(1, "sip:127.0.0.1", DispatcherState::Active),
            dest(2, "sip:127.0.0.1", DispatcherState::Active),
        ];
        assert!(render_dispatcher_list(&same_uri_other_set).is_ok());

        let a = TrustedAddress::host(1, "127.0.0.1".parse().unwrap());
        assert!(
            matches!(render_address_list(&[a.clone(), a]), Err(KamailioError::Invalid { item, .. }) if item == "addresses[1]")
        );
    }

    #[test]
    fn address_list_renders_hosts_and_subnets() {
        let list = [
            TrustedAddress::from_cidr(2, "192.0.2.0/24").unwrap(),
            TrustedAddress {
                group: 1,
                ip: "127.0.0.1".parse().unwrap(),
                mask: 32,
                port: 5060,
                tag: Some("lo".into()),
            },
        ];
        assert_eq!(
            render_address_list(&list).unwrap(),
            "# group address netmask port tag\n1 127.0.0.1 32 5060 lo\n2 192.0.2.0 24 0\n"
        );
        assert_eq!(
            render_address_list(&[]).unwrap(),
            "# group address netmask port tag\n"
        );
    }

    #[test]
    fn too_many_subnets_are_refused() {
        let list: Vec<_> = (0..3u8)
            .map(|i| TrustedAddress::from_cidr(1, &format!("10.{i}.0.0/16")).unwrap())
            .collect();
        assert!(address_blocks(&list, 3).is_ok());
        assert!(matches!(
            address_blocks(&list, 2),
            Err(KamailioError::TooManySubnets { count: 3, max: 2 })
        ));
    }
}

#[cfg(test)]
mod properties {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::kamailio::parser_model::{self, attr_pairs};
    use crate::model::kamailio::address::network;
    use crate::model::kamailio::dispatcher::{Attributes, DispatcherState, check_unicast, sip_uri};

    /// Text an attacker (or a typo) might send: mostly a plain token with one
    /// or two characters some parser treats specially, sometimes anything.
    fn hostile_text() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\0', '#', ';', '=', '"', '\'', ',', '[', ']', '\\', '<', '>',
            '/', '$', '{', '%', '\u{85}', '\u{2028}', 'é', '\u{7f}', '\u{1}',
        ]);
        prop_oneof![
            4 => ("[a-z0-9]{0,4}", prop::collection::vec(special, 1..3), "[a-z0-9]{0,4}")
                .prop_map(|(a, s, b)| format!("{a}{}{b}", s.into_iter().collect::<String>())),
            1 => "[ -~]{0,12}",
            1 => "\\PC{0,8}",
            1 => Just(String::new()),
        ]
    }

    fn unicast_ip() -> impl Strategy<Value = IpAddr> {
        any::<IpAddr>().prop_filter("unicast", |ip| check_unicast(*ip).is_ok())
    }

    fn valid_uri() -> impl Strategy<Value = String> {
        (unicast_ip(), prop::option::of(1u16..)).prop_map(|(ip, port)| sip_uri(ip, port))
    }

    fn state() -> impl Strategy<Value = DispatcherState> {
        prop::sample::select(vec![
            DispatcherState::Active,
            DispatcherState::Disabled,
            DispatcherState::InactiveUntilProbed,
        ])
    }

    const TOKEN: &str = "[A-Za-z0-9._:@+-]{1,20}";

    fn valid_attrs() -> impl Strategy<Value = Attributes> {
        let key = "[a-z][a-z0-9_]{0,8}".prop_filter("own or numeric key", |k| {
            !["duid", "weight", "rweight", "maxload", "cc", "latency"].contains(&k.as_str())
        });
        (
            prop::option::of(TOKEN),
            prop::option::of(1u8..=100),
            prop::collection::btree_map(key, TOKEN, 0..3),
        )
            .prop_map(|(duid, weight, extra)| Attributes {
                duid,
                weight,
                extra,
            })
    }

    fn valid_destinations() -> impl Strategy<Value = Vec<Destination>> {
        prop::collection::btree_map(
            (1u32..4, valid_uri()),
            (state(), 0..=i32::MAX, valid_attrs()),
            1..8,
        )
        .prop_map(|map| {
            map.into_iter()
                .map(|((set_id, uri), (state, priority, attrs))| Destination {
                    set_id,
                    uri,
                    state,
                    priority,
                    attrs,
                })
                .collect()
        })
    }

    fn valid_destination() -> impl Strategy<Value = Destination> {
        (1u32..4, valid_uri(), state(), 0..=i32::MAX, valid_attrs()).prop_map(
            |(set_id, uri, state, priority, attrs)| Destination {
                set_id,
                uri,
                state,
                priority,
                attrs,
            },
        )
    }

    /// A valid destination with one field made hostile.
    fn hostile_destination() -> impl Strategy<Value = Destination> {
        (
            valid_destination(),
            0..8usize,
            hostile_text(),
            prop_oneof![-3i64..3, 99i64..102, any::<i64>()],
        )
            .prop_map(|(mut d, field, text, number)| {
                match field {
                    0 => d.uri = text,
                    1 => d.uri.push_str(&text),
                    2 => d.attrs.duid = Some(text),
                    3 => {
                        d.attrs.extra.insert(text, "v".into());
                    }
                    4 => {
                        d.attrs.extra.insert("k".into(), text);
                    }
                    5 => d.set_id = number as u32,
                    6 => d.priority = number as i32,
                    _ => d.attrs.weight = Some(number as u8),
                }
                d
            })
    }

    /// What Kamailio must read for `destinations`, in the rendered order.
    fn assert_read_back(destinations: &[Destination], text: &str) -> Result<(), TestCaseError> {
        let read = parser_model::parse_dispatcher_list(text).map_err(TestCaseError::fail)?;
        let mut expected: Vec<&Destination> = destinations.iter().collect();
        expected.sort_by_key(|d| d.set_id);
        prop_assert_eq!(read.len(), expected.len(), "{}", text);
        for (entry, meant) in read.iter().zip(expected) {
            prop_assert_eq!(i64::from(entry.set_id), i64::from(meant.set_id));
            prop_assert_eq!(&entry.uri, &meant.uri);
            prop_assert_eq!(entry.flags, i32::from(meant.state.flags()));
            prop_assert_eq!(entry.priority, meant.priority);
            prop_assert_eq!(&entry.attrs, &meant.attrs.render());
            let mut pairs = Vec::new();
            pairs.extend(
                meant
                    .attrs
                    .duid
                    .iter()
                    .map(|d| ("duid".to_owned(), d.clone())),
            );
            pairs.extend(
                meant
                    .attrs
                    .weight
                    .iter()
                    .map(|w| ("weight".to_owned(), w.to_string())),
            );
            pairs.extend(
                meant
                    .attrs
                    .extra
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            prop_assert_eq!(attr_pairs(&entry.attrs), Some(pairs));
        }
        Ok(())
    }

    fn valid_addresses() -> impl Strategy<Value = Vec<TrustedAddress>> {
        let entry = (
            1u32..=i32::MAX as u32,
            unicast_ip(),
            any::<u8>(),
            any::<u16>(),
            prop::option::of(TOKEN),
        )
            .prop_map(|(group, ip, mask_seed, port, tag)| {
                let full = crate::model::kamailio::address::host_mask(ip);
                let mask = 1 + mask_seed % full;
                TrustedAddress {
                    group,
                    ip: network(ip, mask),
                    mask,
                    port,
                    tag,
                }
            });
        prop::collection::vec(entry, 0..8).prop_map(|mut list| {
            let mut seen = std::collections::HashSet::new();
            list.retain(|a| seen.insert((a.group, a.ip, a.mask, a.port)));
            list
        })
    }

    /// A valid entry with one field made hostile.
    fn hostile_address() -> impl Strategy<Value = TrustedAddress> {
        let mask = prop_oneof![Just(0u8), Just(33), Just(129), any::<u8>()];
        (
            valid_addresses().prop_filter("one entry", |l| !l.is_empty()),
            0..5usize,
            hostile_text(),
            mask,
            any::<u32>(),
            any::<IpAddr>(),
        )
            .prop_map(|(list, field, text, mask, number, ip)| {
                let mut a = list[0].clone();
                match field {
                    0 => a.tag = Some(text),
                    1 => a.mask = mask,
                    2 => a.group = number,
                    3 => a.ip = ip,
                    _ => {
                        a.ip = ip;
                        a.mask = mask;
                    }
                }
                a
            })
    }

    fn assert_addresses_read_back(
        addresses: &[TrustedAddress],
        text: &str,
    ) -> Result<(), TestCaseError> {
        let read = parser_model::parse_address_list(text).map_err(TestCaseError::fail)?;
        let mut expected: Vec<&TrustedAddress> = addresses.iter().collect();
        expected.sort_by_key(|a| a.group);
        prop_assert_eq!(read.len(), expected.len(), "{}", text);
        for (entry, meant) in read.iter().zip(expected) {
            prop_assert_eq!(entry.group, meant.group);
            prop_assert_eq!(entry.address.parse::<IpAddr>().ok(), Some(meant.ip));
            prop_assert_eq!(&entry.address, &meant.ip.to_string());
            prop_assert_eq!(entry.mask, u32::from(meant.mask));
            prop_assert_eq!(entry.port, u32::from(meant.port));
            prop_assert_eq!(&entry.tag, &meant.tag);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every valid list renders, and Kamailio reads back exactly what was meant.
        #[test]
        fn valid_dispatcher_lists_read_back_exactly(destinations in valid_destinations()) {
            let text = render_dispatcher_list(&destinations).map_err(|e| TestCaseError::fail(e.to_string()))?;
            assert_read_back(&destinations, &text)?;
            let blocks = dispatcher_blocks(&destinations).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let joined: String = blocks.iter().map(|(_, body)| body.as_str()).collect();
            assert_read_back(&destinations, &joined)?;
        }

        /// Hostile input is refused, or read back exactly: never misread.
        #[test]
        fn hostile_destinations_are_refused_or_read_back_exactly(
            hostile in hostile_destination(),
            mut destinations in valid_destinations(),
            at in any::<prop::sample::Index>(),
        ) {
            let at = at.index(destinations.len() + 1);
            destinations.retain(|d| (d.set_id, &d.uri) != (hostile.set_id, &hostile.uri));
            destinations.insert(at.min(destinations.len()), hostile);
            match render_dispatcher_list(&destinations) {
                Ok(text) => assert_read_back(&destinations, &text)?,
                Err(KamailioError::Invalid { item, errors }) => {
                    prop_assert!(item.starts_with("destinations["));
                    prop_assert!(!errors.is_empty());
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }

        #[test]
        fn valid_address_lists_read_back_exactly(addresses in valid_addresses()) {
            let text = render_address_list(&addresses).map_err(|e| TestCaseError::fail(e.to_string()))?;
            assert_addresses_read_back(&addresses, &text)?;
        }

        #[test]
        fn hostile_addresses_are_refused_or_read_back_exactly(
            hostile in hostile_address(),
            mut addresses in valid_addresses(),
        ) {
            addresses.retain(|a| (a.group, a.ip, a.mask, a.port) != (hostile.group, hostile.ip, hostile.mask, hostile.port));
            addresses.push(hostile);
            match render_address_list(&addresses) {
                Ok(text) => assert_addresses_read_back(&addresses, &text)?,
                Err(KamailioError::Invalid { item, errors }) => {
                    prop_assert!(item.starts_with("addresses["));
                    prop_assert!(!errors.is_empty());
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }

        /// A hostile tag or attribute can never add a line or a comment.
        #[test]
        fn rendered_lines_never_carry_separators(destination in hostile_destination(), address in hostile_address()) {
            if let Ok(text) = render_dispatcher_list(std::slice::from_ref(&destination)) {
                prop_assert_eq!(text.lines().count(), 2);
                prop_assert_eq!(text.matches('#').count(), 1);
                prop_assert_eq!(text.lines().nth(1).map(|l| l.split(' ').count()), Some(if destination.attrs.is_empty() { 4 } else { 5 }));
            }
            if let Ok(text) = render_address_list(std::slice::from_ref(&address)) {
                prop_assert_eq!(text.lines().count(), 2);
                prop_assert_eq!(text.matches('#').count(), 1);
            }
        }
    }
}
