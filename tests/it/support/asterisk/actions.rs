//! The actions the double answers, each shaped like the recorded answer of Asterisk 22.10.1.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};

use super::dialplan::Dialplan;
use super::events::{AmiEvent, ChannelSnapshot};
use super::pjsip_objects::{self, PjsipObject};
use super::runtime::{Channel, Contact};
use super::wire::{Request, Wire};
use super::{DoubleConfig, EventFilter, Flow, Session, State, module_key};

const VERSION_LINE: &str =
    "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-21 16:23:57 UTC";

/// Modules the double knows; any other name answers `No such module`.
const MODULES: &[&str] = &[
    "res_pjsip",
    "pbx_config",
    "chan_pjsip",
    "res_pjsip_session",
    "res_pjsip_outbound_registration",
    "res_pjsip_registrar",
    "manager",
    "logger",
    "features",
    "res_musiconhold",
];

/// Re-reads `pjsip.conf`: a file that does not parse leaves the loaded objects as they were.
pub(super) fn reload_pjsip(config: &DoubleConfig, state: &mut State, path: &Path) {
    state.last_reload = Instant::now();
    let text = match super::config_file::expand_includes(path) {
        Ok(text) => text,
        Err(error) => {
            state
                .log
                .push(format!("Unable to load config file 'pjsip.conf': {error}"));
            return;
        }
    };
    match pjsip_objects::load(&text, &config.option_validator, &state.pjsip) {
        Ok((loaded, log)) => {
            state.pjsip = loaded;
            state.log.extend(log);
        }
        Err(log) => state.log.extend(log),
    }
    // Each transport's socket follows what it runs with; a removed one stays open.
    let running: Vec<(String, String, String)> = state
        .pjsip
        .of_kind("transport")
        .map(|t| {
            (
                t.name.clone(),
                t.get("protocol").unwrap_or("udp").to_owned(),
                t.get("bind").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for listener in running {
        match state.listeners.iter_mut().find(|l| l.0 == listener.0) {
            Some(open) => *open = listener,
            None => state.listeners.push(listener),
        }
    }
}

/// `pjsip show transports` as Asterisk 22 prints it (k1).
fn show_transports(state: &State) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        "Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress....................>"
            .to_owned(),
        "==========================================================================================".to_owned(),
        String::new(),
    ];
    let mut count = 0;
    for t in state.pjsip.of_kind("transport") {
        count += 1;
        lines.push(format!(
            "Transport:  {:<24}  {:<5}  {:>3}  {:>7}  {}",
            t.name,
            t.get("protocol").unwrap_or("udp"),
            t.get("cos").unwrap_or("0"),
            pjsip_objects::tos_shown(t.get("tos").unwrap_or("0")),
            t.get("bind").unwrap_or_default()
        ));
    }
    lines.push(String::new());
    lines.push(format!("Objects found: {count}"));
    lines.push(String::new());
    lines
}

/// Re-reads `extensions.conf`: a file that does not parse keeps the old dialplan.
pub(super) fn reload_dialplan(state: &mut State, path: &Path) {
    state.last_reload = Instant::now();
    match std::fs::read_to_string(path)
        .ok()
        .and_then(|text| Dialplan::from_extensions_conf(&text))
    {
        Some(dialplan) => {
            let before = state.dialplan.hints();
            state.dialplan = state.dialplan.reloaded_from(dialplan);
            // A hint the reload creates reports its state at once, with an empty
            // `Hint:` (j3 [5], o1 part 3); removed hints report nothing (j3).
            for (context, exten, devices) in state.dialplan.hints() {
                if before
                    .iter()
                    .any(|(c, e, d)| *c == context && *e == exten && *d == devices)
                {
                    continue;
                }
                let status = state.publish_hint(&context, &exten, &devices);
                state
                    .deferred
                    .push(super::live::extension_status(&context, &exten, "", status));
            }
            let hints = state.dialplan.hints();
            state
                .hint_states
                .retain(|(c, e), _| hints.iter().any(|(hc, he, _)| hc == c && he == e));
        }
        None => state
            .log
            .push("Unable to load config file 'extensions.conf'".to_owned()),
    }
}

/// A TCP address as AMI security events name it (`IPV4/TCP/127.0.0.1/5038`).
fn ami_address(address: std::net::SocketAddr) -> String {
    format!("IPV4/TCP/{}/{}", address.ip(), address.port())
}

fn now_timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

fn md5_hex(text: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

impl Session {
    pub(super) async fn dispatch(&mut self, request: Request) -> Flow {
        let action_id = request.action_id().map(str::to_owned);
        let id = action_id.as_deref();
        let Some(action) = request
            .get("Action")
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
        else {
            self.send(Wire::error(id, "Missing action in request"));
            return Flow::Continue;
        };
        let name = action.to_ascii_lowercase();
        if !self.logged_in && !matches!(name.as_str(), "login" | "challenge" | "logoff") {
            self.send(Wire::error(id, "Permission denied"));
            return Flow::Continue;
        }
        match name.as_str() {
            "login" => return self.login(&request, id).await,
            "logoff" => {
                self.send(
                    Wire::response("Goodbye", id)
                        .with("Message", "Thanks for all the fish.")
                        .finish(),
                );
                return Flow::Close;
            }
            "challenge" => self.challenge(&request, id),
            "ping" => self.send(
                Wire::response("Success", id)
                    .with("Ping", "Pong")
                    .with("Timestamp", &now_timestamp())
                    .finish(),
            ),
            "coresettings" => self.core_settings(id),
            "corestatus" => self.core_status(id),
            "reload" => self.reload(&request, id).await,
            "moduleload" => self.module_load(&request, id).await,
            "command" => return self.command(&request, id).await,
            "pjsipshowendpoint" => self.show_endpoint(&request, id),
            "pjsipshowendpoints" => self.show_endpoints(id),
            "pjsipshowcontacts" => self.show_contacts(id),
            "pjsipshowaors" => self.show_aors(id),
            "pjsipshowauths" => self.show_auths(id),
            "pjsipshowregistrationsoutbound" => self.show_registrations_outbound(id),
            "pjsipshowregistrationinboundcontactstatuses" => self.show_contact_statuses(id),
            "pjsipshowregistrationsinbound" => self.show_registrations_inbound(id),
            "pjsipshowsubscriptionsinbound" => self.send_empty_list(
                id,
                "Following are Events for each inbound Subscription",
                "InboundSubscriptionDetailComplete",
            ),
            "pjsipshowresourcelists" => self.send(Wire::error(id, "No resource lists found\n")),
            "pjsipqualify" => self.qualify(&request, id),
            "pjsipregister" => self.register(&request, id),
            "coreshowchannels" => self.show_channels(id),
            "originate" => self.originate(&request, id),
            "hangup" => self.hangup(&request, id),
            "showdialplan" if self.allowed(&["config", "reporting"], &action, id) => {
                self.show_dialplan(&request, id)
            }
            "dialplanextensionadd" if self.allowed(&["system"], &action, id) => {
                self.dialplan_extension_add(&request, id)
            }
            "dialplanextensionremove" if self.allowed(&["system"], &action, id) => {
                self.dialplan_extension_remove(&request, id)
            }
            "extensionstatelist" if self.allowed(&["call", "reporting"], &action, id) => {
                self.extension_state_list(id)
            }
            "extensionstate" if self.allowed(&["call", "reporting"], &action, id) => {
                self.extension_state(&request, id)
            }
            "showdialplan"
            | "dialplanextensionadd"
            | "dialplanextensionremove"
            | "extensionstatelist"
            | "extensionstate" => {}
            _ => self.unknown(&action, id),
        }
        Flow::Continue
    }

    fn unknown(&self, action: &str, id: Option<&str>) {
        self.send(Wire::error(
            id,
            &format!(
                "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
            ),
        ));
        let event = AmiEvent::new("RequestBadFormat", "security,all")
            .with("EventTV", super::event_tv())
            .with("Severity", "Error")
            .with("Service", "AMI")
            .with("EventVersion", "1")
            .with("SessionID", self.session_id())
            .with("LocalAddress", ami_address(self.local))
            .with("RemoteAddress", ami_address(self.peer))
            .with("RequestType", format!("Action: {action}"))
            .with("SessionTV", self.started_tv.clone())
            .with("AccountID", self.shared.config.username.clone());
        self.shared.emit(&event);
    }

    async fn login(&mut self, request: &Request, id: Option<&str>) -> Flow {
        let config = &self.shared.config;
        let user_ok = request.header("Username") == config.username;
        let secret_ok = if request.header("AuthType").eq_ignore_ascii_case("md5") {
            self.challenge.as_deref().is_some_and(|challenge| {
                request
                    .header("Key")
                    .eq_ignore_ascii_case(&md5_hex(&format!("{challenge}{}", config.secret)))
            })
        } else {
            request.header("Secret") == config.secret
        };
        if !(user_ok && secret_ok) {
            tokio::time::sleep(config.login_failure_delay).await;
            self.send(Wire::error(id, "Authentication failed"));
            return Flow::Close;
        }
        self.logged_in = true;
        let filter = EventFilter::from_login(request.get("Events"));
        let (booted, booting) = {
            let state = self.state();
            let booting = state.booting_until.is_some_and(|t| t > Instant::now());
            let event = AmiEvent::new("FullyBooted", "system,all")
                .with("Uptime", state.booted.elapsed().as_secs().to_string())
                .with(
                    "LastReload",
                    state.last_reload.elapsed().as_secs().to_string(),
                )
                .with("Status", "Fully Booted");
            (event, booting)
        };
        let auth = AmiEvent::new("SuccessfulAuth", "security,all")
            .with("EventTV", super::event_tv())
            .with("Severity", "Informational")
            .with("Service", "AMI")
            .with("EventVersion", "1")
            .with("AccountID", config.username.clone())
            .with("SessionID", self.session_id())
            .with("LocalAddress", ami_address(self.local))
            .with("RemoteAddress", ami_address(self.peer))
            .with("UsingPassword", "0")
            .with("SessionTV", self.started_tv.clone());
        // The answer and this session's first events leave in one write, as recorded (a1).
        let mut out = Wire::ack(id, "Authentication accepted");
        // While booting, FullyBooted comes later, on its own (k2).
        let first: &[&AmiEvent] = if booting { &[&auth] } else { &[&booted, &auth] };
        for event in first {
            if filter.accepts(event) && self.shared.may_read(event) {
                out.extend(event.render());
            }
        }
        self.send(out);
        self.set_filter(filter);
        self.shared.emit_except(&auth, self.id);
        Flow::Continue
    }

    fn challenge(&mut self, request: &Request, id: Option<&str>) {
        if !request.header("AuthType").eq_ignore_ascii_case("md5") {
            self.send(Wire::error(id, "Must specify AuthType"));
            return;
        }
        let challenge = self
            .shared
            .config
            .challenge
            .clone()
            .unwrap_or_else(|| (rand::random::<u32>() % 900_000_000 + 100_000_000).to_string());
        self.send(
            Wire::response("Success", id)
                .with("Challenge", &challenge)
                .finish(),
        );
        self.challenge = Some(challenge);
    }

    fn core_settings(&self, id: Option<&str>) {
        self.send(
            Wire::response("Success", id)
                .lines([
                    ("AMIversion", "11.0.0"),
                    ("AsteriskVersion", "22.10.1"),
                    ("SystemName", ""),
                    ("CoreMaxCalls", "0"),
                    ("CoreMaxLoadAvg", "0.000000"),
                    ("CoreRunUser", ""),
                    ("CoreRunGroup", ""),
                    ("CoreMaxFilehandles", "0"),
                    ("CoreRealTimeEnabled", "No"),
                    ("CoreCDRenabled", "Yes"),
                    ("CoreHTTPenabled", "No"),
                    ("SoundsSearchCustomDir", "No"),
                ])
                .finish(),
        );
    }

    fn core_status(&self, id: Option<&str>) {
        let (current, processed, since_reload) = {
            let state = self.state();
            (
                state.channels.len(),
                state.processed_calls,
                state.last_reload.elapsed(),
            )
        };
        let started = self.state().booted_at;
        let reloaded =
            chrono::Utc::now() - chrono::Duration::from_std(since_reload).unwrap_or_default();
        self.send(
            Wire::response("Success", id)
                .with("CoreStartupDate", &started.format("%Y-%m-%d").to_string())
                .with("CoreStartupTime", &started.format("%H:%M:%S").to_string())
                .with("CoreReloadDate", &reloaded.format("%Y-%m-%d").to_string())
                .with("CoreReloadTime", &reloaded.format("%H:%M:%S").to_string())
                .with("CoreCurrentCalls", &current.to_string())
                .with("CoreProcessedCalls", &processed.to_string())
                .finish(),
        );
    }

    /// Reloads a module as Asterisk would; false when there is no such module.
    async fn reload_module(&self, module: &str) -> bool {
        let key = module_key(module);
        let everything = key.is_empty();
        if !everything && !MODULES.contains(&key.as_str()) {
            return false;
        }
        let duration = {
            let mut state = self.state();
            let targets: Vec<String> = if everything {
                vec!["res_pjsip".to_owned(), "pbx_config".to_owned()]
            } else {
                vec![key.clone()]
            };
            for target in targets {
                *state.reloads.entry(target).or_insert(0) += 1;
            }
            state.reload_duration
        };
        if everything || key == "res_pjsip" {
            if !duration.is_zero() {
                tokio::time::sleep(duration).await;
            }
            if let Some(path) = &self.shared.config.pjsip_conf {
                let mut state = self.state();
                reload_pjsip(&self.shared.config, &mut state, path);
            }
        }
        if everything || key == "pbx_config" {
            let mut state = self.state();
            match &self.shared.config.extensions_conf {
                Some(path) => reload_dialplan(&mut state, path),
                None => state.last_reload = Instant::now(),
            }
        }
        true
    }

    async fn reload(&self, request: &Request, id: Option<&str>) {
        let module = request.header("Module").to_owned();
        if self.reload_module(&module).await {
            self.send(Wire::ack(id, "Module Reloaded"));
            self.flush_deferred();
            if !module.is_empty() {
                self.shared.emit(&AmiEvent::reload(&module, 0));
            }
        } else {
            self.send(Wire::error(id, "No such module"));
            self.shared.emit(&AmiEvent::reload(&module, 2));
        }
    }

    async fn module_load(&self, request: &Request, id: Option<&str>) {
        let module = request.header("Module").to_owned();
        if !request.header("LoadType").eq_ignore_ascii_case("reload") {
            self.send(Wire::error(id, "Incomplete ModuleLoad action."));
            return;
        }
        if self.reload_module(&module).await {
            self.send(Wire::ack(id, "Module reloaded."));
            self.flush_deferred();
            self.shared.emit(&AmiEvent::reload(&module, 0));
        } else {
            self.send(Wire::error(id, "No such module."));
        }
    }

    async fn command(&self, request: &Request, id: Option<&str>) -> Flow {
        if !self.state().command_allowed {
            self.send(Wire::error(id, "Permission denied"));
            return Flow::Continue;
        }
        let command = request.header("Command").trim().to_owned();
        let words: Vec<&str> = command.split_whitespace().collect();
        let mut reloaded = None;
        let output: Option<Vec<String>> = match words.as_slice() {
            // No answer: the connection closes (k2).
            ["core", "restart", how @ ("gracefully" | "now")] => {
                self.shared.restart_asterisk(*how == "gracefully");
                return Flow::Close;
            }
            ["pjsip", "show", "transports"] => Some(show_transports(&self.state())),
            ["module", "reload", module] => {
                if self.reload_module(module).await {
                    reloaded = Some((*module).to_owned());
                    Some(vec![format!("Module '{module}' reloaded successfully.")])
                } else {
                    Some(vec![format!("No such module '{module}'")])
                }
            }
            ["dialplan", "reload"] => {
                self.reload_module("pbx_config").await;
                Some(vec!["Dialplan reloaded.".to_owned()])
            }
            ["dialplan", "show", context] => Some(self.state().dialplan.show(context)),
            ["core", "show", "version"] => Some(vec![VERSION_LINE.to_owned()]),
            _ => None,
        };
        match output {
            Some(lines) => {
                let mut wire =
                    Wire::response("Success", id).with("Message", "Command output follows");
                for line in &lines {
                    wire.line("Output", line);
                }
                self.send(wire.finish());
                self.flush_deferred();
                if let Some(module) = reloaded {
                    self.shared.emit(&AmiEvent::reload(&module, 0));
                }
            }
            None => {
                let hint = words.iter().take(2).copied().collect::<Vec<_>>().join(" ");
                self.send(
                    Wire::response("Error", id)
                        .with("Message", "Command output follows")
                        .with(
                            "Output",
                            &format!(
                                "No such command '{command}' (type 'core show help {hint}' for other possible commands)"
                            ),
                        )
                        .finish(),
                );
            }
        }
        Flow::Continue
    }

    fn send_empty_list(&self, id: Option<&str>, message: &str, complete: &str) {
        let mut out = Wire::list_start(id, message);
        out.extend(Wire::list_complete(complete, id, 0).finish());
        self.send(out);
    }

    fn show_endpoint(&self, request: &Request, id: Option<&str>) {
        let name = request.header("Endpoint");
        if name.is_empty() {
            self.send(Wire::error(
                id,
                "PJSIPShowEndpoint requires an endpoint name\n",
            ));
            return;
        }
        let state = self.state();
        let Some(endpoint) = state.pjsip.get("endpoint", name) else {
            drop(state);
            self.send(Wire::error(
                id,
                &format!("Unable to retrieve endpoint {name}\n"),
            ));
            return;
        };
        let mut out = Wire::list_start(
            id,
            "Following are Events for each object associated with the Endpoint",
        );
        let mut items = 1;
        out.extend(state.endpoint_detail(endpoint, id));
        for auth in endpoint.list("auth") {
            if let Some(auth) = state.pjsip.get("auth", &auth) {
                out.extend(
                    object_event("AuthDetail", id, auth)
                        .with("EndpointName", &endpoint.name)
                        .finish(),
                );
                items += 1;
            }
        }
        let transport = endpoint.get("transport").unwrap_or_default();
        let mut formatted = true;
        if !transport.is_empty() {
            match state.pjsip.get("transport", transport) {
                Some(t) => {
                    out.extend(
                        object_event("TransportDetail", id, t)
                            .with("EndpointName", &endpoint.name)
                            .finish(),
                    );
                    items += 1;
                }
                None => {
                    out.extend(Wire::error(
                        id,
                        &format!("Unable to retrieve transport {transport}\n"),
                    ));
                    out.extend(Wire::error(
                        id,
                        &format!("Unable to format endpoint {}\n", endpoint.name),
                    ));
                    formatted = false;
                }
            }
        }
        if formatted {
            let aors: Vec<&PjsipObject> = endpoint
                .list("aors")
                .iter()
                .filter_map(|aor| state.pjsip.get("aor", aor))
                .collect();
            for aor in &aors {
                let contacts = state.contacts_of(&aor.name);
                out.extend(
                    state
                        .aor_event("AorDetail", id, aor)
                        .with("TotalContacts", &contacts.len().to_string())
                        .with("ContactsRegistered", &contacts.len().to_string())
                        .with("EndpointName", &endpoint.name)
                        .finish(),
                );
                items += 1;
            }
            for aor in &aors {
                for contact in state.contacts_of(&aor.name) {
                    out.extend(contact_status_detail(id, contact, aor));
                    items += 1;
                }
            }
        }
        out.extend(Wire::list_complete("EndpointDetailComplete", id, items).finish());
        drop(state);
        self.send(out);
    }

    fn show_endpoints(&self, id: Option<&str>) {
        let state = self.state();
        let endpoints: Vec<&PjsipObject> = state.pjsip.of_kind("endpoint").collect();
        if endpoints.is_empty() {
            drop(state);
            self.send(Wire::error(id, "No endpoints found\n"));
            return;
        }
        let mut out = Wire::list_start(
            id,
            "A listing of Endpoints follows, presented as EndpointList events",
        );
        for endpoint in &endpoints {
            let contacts: String = endpoint
                .list("aors")
                .iter()
                .flat_map(|aor| state.contacts_of(aor))
                .map(|c| format!("{}/{},", c.aor, c.uri))
                .collect();
            let (device_state, active) = state.device_state(endpoint);
            out.extend(
                Wire::list_event("EndpointList", id)
                    .with("ObjectType", "endpoint")
                    .with("ObjectName", &endpoint.name)
                    .with("Transport", endpoint.get("transport").unwrap_or_default())
                    .with("Aor", endpoint.get("aors").unwrap_or_default())
                    .with("Auths", endpoint.get("auth").unwrap_or_default())
                    .with(
                        "OutboundAuths",
                        endpoint.get("outbound_auth").unwrap_or_default(),
                    )
                    .with("Contacts", &contacts)
                    .with("DeviceState", device_state)
                    .with("ActiveChannels", &active.to_string())
                    .finish(),
            );
        }
        out.extend(Wire::list_complete("EndpointListComplete", id, endpoints.len()).finish());
        drop(state);
        self.send(out);
    }

    fn show_contacts(&self, id: Option<&str>) {
        let state = self.state();
        if state.contacts.is_empty() {
            drop(state);
            self.send(Wire::error(id, "No Contacts found\n"));
            return;
        }
        let mut out = Wire::list_start(
            id,
            "A listing of Contacts follows, presented as ContactList events",
        );
        let mut contacts: Vec<&Contact> = state.contacts.iter().collect();
        contacts.sort_by_key(|c| c.id());
        for contact in &contacts {
            let aor = state.pjsip.get("aor", &contact.aor);
            let aor_field = |name: &str| aor_value(aor, name);
            out.extend(
                Wire::list_event("ContactList", id)
                    .with("ObjectType", "contact")
                    .with("ObjectName", &contact.id())
                    .with("ViaAddr", &contact.via_addr)
                    .with("QualifyTimeout", &aor_field("QualifyTimeout"))
                    .with("Qualify2xxOnly", &aor_field("Qualify2xxOnly"))
                    .with("CallId", &contact.call_id)
                    .with("RegServer", "")
                    .with("PruneOnBoot", "no")
                    .with("Path", "")
                    .with("Endpoint", &contact.endpoint)
                    .with("ViaPort", &contact.via_port.to_string())
                    .with("AuthenticateQualify", "no")
                    .with("Uri", &contact.uri)
                    .with("QualifyFrequency", &aor_field("QualifyFrequency"))
                    .with("UserAgent", &contact.user_agent)
                    .with("ExpirationTime", &contact.expiration.to_string())
                    .with("OutboundProxy", "")
                    .with("Status", &contact.status)
                    .with("RoundtripUsec", &contact.roundtrip())
                    .finish(),
            );
        }
        out.extend(Wire::list_complete("ContactListComplete", id, contacts.len()).finish());
        drop(state);
        self.send(out);
    }

    fn show_aors(&self, id: Option<&str>) {
        let state = self.state();
        let aors: Vec<&PjsipObject> = state.pjsip.of_kind("aor").collect();
        if aors.is_empty() {
            drop(state);
            self.send(Wire::error(id, "No AORs found\n"));
            return;
        }
        let mut out =
            Wire::list_start(id, "A listing of AORs follows, presented as AorList events");
        for aor in &aors {
            out.extend(state.aor_event("AorList", id, aor).finish());
        }
        out.extend(Wire::list_complete("AorListComplete", id, aors.len()).finish());
        drop(state);
        self.send(out);
    }

    fn show_auths(&self, id: Option<&str>) {
        let state = self.state();
        let auths: Vec<&PjsipObject> = state.pjsip.of_kind("auth").collect();
        if auths.is_empty() {
            drop(state);
            self.send(Wire::error(id, "No Auths found\n"));
            return;
        }
        let mut out = Wire::list_start(
            id,
            "A listing of Auths follows, presented as AuthList events",
        );
        for auth in &auths {
            out.extend(object_event("AuthList", id, auth).finish());
        }
        out.extend(Wire::list_complete("AuthListComplete", id, auths.len()).finish());
        drop(state);
        self.send(out);
    }

    fn show_registrations_outbound(&self, id: Option<&str>) {
        let state = self.state();
        let registrations: Vec<&PjsipObject> = state.pjsip.of_kind("registration").collect();
        let mut out = Wire::list_start(id, "Following are Events for each Outbound registration");
        for registration in &registrations {
            let status = state
                .registration_status
                .get(&registration.name)
                .map_or("Unregistered", String::as_str);
            out.extend(
                object_event("OutboundRegistrationDetail", id, registration)
                    .with("Status", status)
                    .with("NextReg", "0")
                    .finish(),
            );
            for auth in registration.list("outbound_auth") {
                if let Some(auth) = state.pjsip.get("auth", &auth) {
                    out.extend(object_event("AuthDetail", id, auth).finish());
                }
            }
        }
        let registered = registrations
            .iter()
            .filter(|r| {
                state
                    .registration_status
                    .get(&r.name)
                    .is_some_and(|s| s == "Registered")
            })
            .count();
        out.extend(
            Wire::list_complete(
                "OutboundRegistrationDetailComplete",
                id,
                registrations.len(),
            )
            .with("Registered", &registered.to_string())
            .with(
                "NotRegistered",
                &(registrations.len() - registered).to_string(),
            )
            .finish(),
        );
        drop(state);
        self.send(out);
    }

    fn show_contact_statuses(&self, id: Option<&str>) {
        let state = self.state();
        let mut out = Wire::list_start(
            id,
            "Following are ContactStatusEvents for each Inbound registration",
        );
        let mut items = 0;
        for aor in state.pjsip.of_kind("aor") {
            for contact in state.contacts_of(&aor.name) {
                out.extend(contact_status_detail(id, contact, aor));
                items += 1;
            }
        }
        out.extend(Wire::list_complete("ContactStatusDetailComplete", id, items).finish());
        drop(state);
        self.send(out);
    }

    fn show_registrations_inbound(&self, id: Option<&str>) {
        let state = self.state();
        let aors: Vec<&PjsipObject> = state.pjsip.of_kind("aor").collect();
        let mut out = Wire::list_start(id, "Following are Events for each Inbound registration");
        for aor in &aors {
            let mut wire = Wire::list_event("InboundRegistrationDetail", id)
                .with("ObjectType", "aor")
                .with("ObjectName", &aor.name);
            for (field, value) in pjsip_objects::render(aor) {
                if field == "Contacts" {
                    wire.line("Contact", aor.get("contact").unwrap_or_default());
                } else {
                    wire.line(&field, &value);
                }
            }
            wire.line("Contacts", &state.contacts_field(&aor.name));
            out.extend(wire.finish());
        }
        out.extend(
            Wire::list_complete("InboundRegistrationDetailComplete", id, aors.len()).finish(),
        );
        drop(state);
        self.send(out);
    }

    /// `PJSIPRegister`: "Reregistration sent" (transcripts e2, j1), then the
    /// `Registry` event of the outcome. Real Asterisk sends that event when the
    /// registrar answers; the double at once. The error for an unknown
    /// registration is not recorded; it follows `PJSIPQualify`'s wording.
    fn register(&self, request: &Request, id: Option<&str>) {
        let name = request.header("Registration");
        let event = {
            let mut state = self.state();
            let Some(registration) = state.pjsip.get("registration", name) else {
                drop(state);
                self.send(Wire::error(
                    id,
                    &format!("Unable to retrieve registration entry {name}\n"),
                ));
                return;
            };
            let client = registration
                .get("client_uri")
                .unwrap_or_default()
                .to_owned();
            let server = registration
                .get("server_uri")
                .unwrap_or_default()
                .to_owned();
            let status = state
                .registration_outcome
                .get(name)
                .cloned()
                .unwrap_or_else(|| "Registered".into());
            state
                .registration_status
                .insert(name.to_owned(), status.clone());
            AmiEvent::new("Registry", "system,all")
                .with("ChannelType", "PJSIP")
                .with("Username", client)
                .with("Domain", server)
                .with("Status", status)
        };
        self.send(Wire::ack(id, "Reregistration sent"));
        self.shared.emit(&event);
    }

    fn qualify(&self, request: &Request, id: Option<&str>) {
        let name = request.header("Endpoint");
        if self.state().pjsip.get("endpoint", name).is_some() {
            self.send(Wire::ack(id, "Endpoint found, will qualify"));
        } else {
            self.send(Wire::error(
                id,
                &format!("Unable to retrieve endpoint {name}\n"),
            ));
        }
    }

    fn show_channels(&self, id: Option<&str>) {
        let state = self.state();
        let mut out = Wire::list_start(id, "Channels will follow");
        for channel in &state.channels {
            let secs = channel.started.elapsed().as_secs();
            out.extend(
                Wire::list_event("CoreShowChannel", id)
                    .lines(
                        channel
                            .snapshot
                            .headers("")
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str())),
                    )
                    .with("Application", &channel.application)
                    .with("ApplicationData", &channel.application_data)
                    .with(
                        "Duration",
                        &format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                    )
                    .with("BridgeId", "")
                    .finish(),
            );
        }
        out.extend(
            Wire::list_complete("CoreShowChannelsComplete", id, state.channels.len()).finish(),
        );
        drop(state);
        self.send(out);
    }

    fn originate(&self, request: &Request, id: Option<&str>) {
        let requested = request.header("Channel").to_owned();
        let asynchronous = ["true", "yes", "1", "on"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(request.header("Async")));
        let (caller_name, caller_num) = parse_caller_id(request.header("CallerID"));
        let created = self.create_channel(&requested, request, &caller_num, &caller_name);
        match (&created, asynchronous) {
            (None, false) => self.send(Wire::error(id, "Originate failed")),
            (Some(_), _) | (None, true) => {
                self.send(Wire::ack(id, "Originate successfully queued"))
            }
        }
        let mut response = AmiEvent::new("OriginateResponse", "call,all");
        if let Some(id) = id {
            response = response.with("ActionID", id);
        }
        response = response.with(
            "Response",
            if created.is_some() {
                "Success"
            } else {
                "Failure"
            },
        );
        let target: Vec<(&str, &str)> = if request.get("Application").is_some() {
            vec![
                ("Application", request.header("Application")),
                ("Data", request.header("Data")),
            ]
        } else {
            vec![
                ("Context", request.header("Context")),
                ("Exten", request.header("Exten")),
            ]
        };
        match created {
            Some(snapshot) => {
                self.shared.emit(&AmiEvent::channel(
                    "Newchannel",
                    "call,all",
                    &ChannelSnapshot {
                        state: 0,
                        ..snapshot.clone()
                    },
                ));
                self.shared
                    .emit(&AmiEvent::channel("Newstate", "call,all", &snapshot));
                if asynchronous {
                    response = response.with("Channel", snapshot.channel.clone());
                    for (k, v) in target {
                        response = response.with(k, v);
                    }
                    let response = response
                        .with("Reason", "4")
                        .with("Uniqueid", snapshot.uniqueid.clone())
                        .with("CallerIDNum", snapshot.caller_num.clone())
                        .with("CallerIDName", snapshot.caller_name.clone());
                    self.shared.emit(&response);
                }
            }
            None if asynchronous => {
                response = response.with("Channel", requested);
                for (k, v) in target {
                    response = response.with(k, v);
                }
                let response = response
                    .with("Reason", "0")
                    .with("Uniqueid", "<unknown>")
                    .with("CallerIDNum", "<unknown>")
                    .with("CallerIDName", "<unknown>");
                self.shared.emit(&response);
            }
            None => {}
        }
    }

    /// A PJSIP endpoint with a contact or a Local channel answers; anything else fails.
    fn create_channel(
        &self,
        requested: &str,
        request: &Request,
        caller_num: &str,
        caller_name: &str,
    ) -> Option<ChannelSnapshot> {
        let (tech, resource) = requested.split_once('/')?;
        let mut state = self.state();
        let reachable = match tech.to_ascii_uppercase().as_str() {
            "PJSIP" => state
                .pjsip
                .get("endpoint", resource)
                .is_some_and(|endpoint| {
                    endpoint
                        .list("aors")
                        .iter()
                        .any(|aor| !state.contacts_of(aor).is_empty())
                }),
            "LOCAL" => true,
            _ => false,
        };
        if !reachable {
            return None;
        }
        state.channel_seq += 1;
        state.processed_calls += 1;
        let seq = state.channel_seq;
        let name = if tech.eq_ignore_ascii_case("local") {
            format!("{requested}-{seq:08x};1")
        } else {
            format!("{requested}-{seq:08x}")
        };
        let uniqueid = format!("1795279389.{seq}");
        let snapshot = ChannelSnapshot {
            channel: name,
            state: 6,
            caller_num: non_empty_or_unknown(caller_num),
            caller_name: non_empty_or_unknown(caller_name),
            connected_num: non_empty_or_unknown(caller_num),
            connected_name: non_empty_or_unknown(caller_name),
            context: request.get("Context").unwrap_or("from-internal").to_owned(),
            exten: request.get("Exten").unwrap_or("s").to_owned(),
            priority: 1,
            uniqueid: uniqueid.clone(),
            linkedid: uniqueid,
        };
        state.channels.push(Channel {
            snapshot: snapshot.clone(),
            application: request.header("Application").to_owned(),
            application_data: request.header("Data").to_owned(),
            started: Instant::now(),
        });
        Some(snapshot)
    }

    fn hangup(&self, request: &Request, id: Option<&str>) {
        let name = request.header("Channel");
        let cause: u32 = request.header("Cause").parse().unwrap_or(16);
        let removed = {
            let mut state = self.state();
            let index = state
                .channels
                .iter()
                .position(|c| c.snapshot.channel == name);
            index.map(|i| state.channels.remove(i))
        };
        match removed {
            Some(channel) => {
                self.send(Wire::ack(id, "Channel Hungup"));
                self.shared
                    .emit(&AmiEvent::hangup(&channel.snapshot, cause));
            }
            None => self.send(Wire::error(id, "No such channel")),
        }
    }

    fn show_dialplan(&self, request: &Request, id: Option<&str>) {
        let wanted = request.get("Context").filter(|c| !c.is_empty());
        let wanted_exten = request.get("Extension").filter(|e| !e.is_empty());
        let state = self.state();
        let contexts: Vec<_> = state
            .dialplan
            .contexts
            .iter()
            .filter(|c| wanted.is_none_or(|w| w == c.name))
            .filter(|c| {
                wanted_exten.is_none_or(|x| c.extensions.iter().any(|e| e.name == x))
                    || wanted_exten.is_none()
            })
            .collect();
        if let Some(exten) = wanted_exten
            && contexts.is_empty()
        {
            drop(state);
            let message = match wanted {
                Some(context) => format!("Did not find extension {exten}@{context}"),
                None => format!("Did not find extension {exten}"),
            };
            self.send(Wire::error(id, &message));
            return;
        }
        if let Some(wanted) = wanted
            && contexts.is_empty()
        {
            drop(state);
            self.send(Wire::error(id, &format!("Did not find context {wanted}")));
            return;
        }
        let mut out = Wire::list_start(id, "DialPlan list will follow");
        let (mut priorities, mut extensions) = (0, 0);
        for context in &contexts {
            for extension in context
                .extensions
                .iter()
                .filter(|e| wanted_exten.is_none_or(|x| x == e.name))
            {
                extensions += 1;
                for p in &extension.priorities {
                    priorities += 1;
                    let mut event = Wire::list_event("ListDialplan", id)
                        .with("Context", &context.name)
                        .with("Extension", &extension.name)
                        .with("Priority", &p.label())
                        .with("Application", &p.application);
                    // manager_show_dialplan_helper: a hint has no AppData line (o1).
                    if !p.is_hint() {
                        event.line("AppData", &p.data);
                    }
                    out.extend(event.with("Registrar", "pbx_config").finish());
                }
            }
        }
        out.extend(
            Wire::list_complete("ShowDialPlanComplete", id, priorities)
                .with("ListExtensions", &extensions.to_string())
                .with("ListPriorities", &priorities.to_string())
                .with("ListContexts", &contexts.len().to_string())
                .finish(),
        );
        drop(state);
        self.send(out);
    }

    /// Sends what a reload left to say after its answer (ExtensionStatus of new hints).
    fn flush_deferred(&self) {
        let events = std::mem::take(&mut self.state().deferred);
        for event in &events {
            self.shared.emit(event);
        }
    }

    /// manager.c: an action whose classes the user's `write=` lacks answers
    /// `Permission denied` and reports `RequestNotAllowed` (report_req_not_allowed;
    /// header order from security_events.c, not recorded).
    fn allowed(&self, classes: &[&str], action: &str, id: Option<&str>) -> bool {
        if self.shared.may_run(classes) {
            return true;
        }
        self.send(Wire::error(id, "Permission denied"));
        let event = AmiEvent::new("RequestNotAllowed", "security,all")
            .with("EventTV", super::event_tv())
            .with("Severity", "Error")
            .with("Service", "AMI")
            .with("EventVersion", "1")
            .with("AccountID", self.shared.config.username.clone())
            .with("SessionID", self.session_id())
            .with("LocalAddress", ami_address(self.local))
            .with("RemoteAddress", ami_address(self.peer))
            .with("RequestType", format!("Action: {action}"))
            .with("SessionTV", self.started_tv.clone());
        self.shared.emit(&event);
        false
    }

    /// DialplanExtensionAdd as o1 records it; the texts of the other refusals follow
    /// pbx_config.c (manager_dialplan_extension_add), not a recording.
    fn dialplan_extension_add(&self, request: &Request, id: Option<&str>) {
        let context = request.header("Context");
        let exten = request.header("Extension");
        let priority = request.header("Priority");
        let application = request.header("Application");
        let data = request.header("ApplicationData");
        self.state().dialplan_actions += 1;
        if context.is_empty() || exten.is_empty() || priority.is_empty() || application.is_empty() {
            self.send(Wire::error(
                id,
                "Context, Extension, Priority, and Application must be defined for DialplanExtensionAdd.",
            ));
            return;
        }
        let number = if priority == "hint" {
            super::dialplan::HINT
        } else {
            match leading_int(priority) {
                Some(n) if n >= 0 => n as u32,
                _ => {
                    self.send(Wire::error(id, "The priority specified was invalid."));
                    return;
                }
            }
        };
        let replace = is_true(request.header("Replace"));
        let event = {
            let mut state = self.state();
            let outcome =
                state
                    .dialplan
                    .add_live(context, exten, number, application, data, replace);
            if outcome == super::dialplan::AddOutcome::Exists {
                drop(state);
                self.send(Wire::error(
                    id,
                    "That extension and priority already exist at that context",
                ));
                return;
            }
            (number == super::dialplan::HINT).then(|| {
                let status = state.publish_hint(context, exten, application);
                super::live::extension_status(context, exten, application, status)
            })
        };
        self.send(Wire::ack(id, "Added requested extension"));
        if let Some(event) = event {
            self.shared.emit(&event);
        }
    }

    /// DialplanExtensionRemove as o1 records it; removing a hint emits nothing.
    fn dialplan_extension_remove(&self, request: &Request, id: Option<&str>) {
        let context = request.header("Context");
        let exten = request.header("Extension");
        let priority = request.header("Priority");
        self.state().dialplan_actions += 1;
        if context.is_empty() || exten.is_empty() {
            self.send(Wire::error(
                id,
                "Context and Extension must be provided for DialplanExtensionRemove",
            ));
            return;
        }
        let number = if priority.is_empty() {
            None
        } else if priority == "hint" {
            Some(super::dialplan::HINT)
        } else {
            match leading_int(priority) {
                Some(n) if n > 0 => Some(n as u32),
                _ => {
                    self.send(Wire::error(id, "The priority specified was invalid."));
                    return;
                }
            }
        };
        let outcome = {
            let mut state = self.state();
            let outcome = state.dialplan.remove_live(context, exten, number);
            if state.dialplan.hint(context, exten).is_none() {
                state
                    .hint_states
                    .remove(&(context.to_owned(), exten.to_owned()));
            }
            outcome
        };
        match outcome {
            super::dialplan::RemoveOutcome::RemovedPriority => self.send(Wire::ack(
                id,
                "Removed the requested priority from the extension",
            )),
            super::dialplan::RemoveOutcome::RemovedExtension => {
                self.send(Wire::ack(id, "Removed the requested extension"))
            }
            super::dialplan::RemoveOutcome::Failed => {
                self.send(Wire::error(id, "Failed to remove requested extension"))
            }
        }
    }

    /// ExtensionStateList (j3, o1). Asterisk walks its hint container, whose order is
    /// a hash order (j3 lists 2002 before 2001); the double lists the newest hint first.
    fn extension_state_list(&self, id: Option<&str>) {
        let state = self.state();
        let hints = state.dialplan.hints();
        let mut out = Wire::list_start(id, "Extension Statuses will follow");
        for (context, exten, devices) in hints.iter().rev() {
            let status = state.current_hint_state(devices);
            out.extend(
                Wire::list_event("ExtensionStatus", id)
                    .with("Exten", exten)
                    .with("Context", context)
                    .with("Hint", devices)
                    .with("Status", &status.to_string())
                    .with("StatusText", super::live::extension_state_text(status))
                    .finish(),
            );
        }
        out.extend(Wire::list_complete("ExtensionStateListComplete", id, hints.len()).finish());
        drop(state);
        self.send(out);
    }

    /// ExtensionState (j3, n3). For an extension without a hint Asterisk answers
    /// Success with `Status: -1` and an empty Hint (manager.c action_extensionstate).
    fn extension_state(&self, request: &Request, id: Option<&str>) {
        let exten = request.header("Exten");
        if exten.is_empty() {
            self.send(Wire::error(id, "Extension not specified"));
            return;
        }
        let context = match request.header("Context") {
            "" => "default",
            c => c,
        };
        let state = self.state();
        let (hint, status) = match state.dialplan.hint(context, exten) {
            Some(devices) => {
                let status = state.current_hint_state(&devices);
                (devices, status)
            }
            None => (String::new(), -1),
        };
        drop(state);
        self.send(
            Wire::response("Success", id)
                .with("Message", "Extension Status")
                .with("Exten", exten)
                .with("Context", context)
                .with("Hint", &hint)
                .with("Status", &status.to_string())
                .with("StatusText", super::live::extension_state_text(status))
                .finish(),
        );
    }
}

/// `sscanf("%30d")`: the leading integer of `text`.
fn leading_int(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(text.len(), |(i, _)| i);
    text[..end].parse().ok()
}

/// Asterisk's `ast_true`.
fn is_true(value: &str) -> bool {
    ["yes", "true", "y", "t", "1", "on"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(value.trim()))
}

fn non_empty_or_unknown(value: &str) -> String {
    if value.is_empty() {
        "<unknown>".to_owned()
    } else {
        value.to_owned()
    }
}

/// `Lab <5555>` -> (`Lab`, `5555`).
fn parse_caller_id(value: &str) -> (String, String) {
    match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => (
            value[..open].trim().trim_matches('"').to_owned(),
            value[open + 1..close].trim().to_owned(),
        ),
        _ => (String::new(), value.trim().to_owned()),
    }
}

/// `Event`, `ActionID`, `ObjectType`, `ObjectName` and the object's fields.
fn object_event(event: &str, id: Option<&str>, object: &PjsipObject) -> Wire {
    let mut wire = Wire::list_event(event, id)
        .with("ObjectType", &object.kind)
        .with("ObjectName", &object.name);
    for (field, value) in pjsip_objects::render(object) {
        wire.line(&field, &value);
    }
    wire
}

fn aor_value(aor: Option<&PjsipObject>, field: &str) -> String {
    let rendered = aor.map(pjsip_objects::render).unwrap_or_default();
    rendered
        .into_iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
        .unwrap_or_else(|| {
            pjsip_objects::fields("aor")
                .iter()
                .find(|(k, _)| *k == field)
                .map_or(String::new(), |(_, v)| (*v).to_owned())
        })
}

fn contact_status_detail(id: Option<&str>, contact: &Contact, aor: &PjsipObject) -> Vec<u8> {
    let rendered = pjsip_objects::render(aor);
    let field = |name: &str| {
        rendered
            .iter()
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let qualify_timeout: f64 = field("QualifyTimeout").parse().unwrap_or(3.0);
    let flag = |name: &str| if field(name) == "true" { "1" } else { "0" };
    Wire::list_event("ContactStatusDetail", id)
        .with("AOR", &contact.aor)
        .with("URI", &contact.uri)
        .with("UserAgent", &contact.user_agent)
        .with("RegExpire", &contact.expiration.to_string())
        .with(
            "ViaAddress",
            &format!("{}:{}", contact.via_addr, contact.via_port),
        )
        .with("CallID", &contact.call_id)
        .with("Status", &contact.status)
        .with("RoundtripUsec", &contact.roundtrip())
        .with("EndpointName", &contact.endpoint)
        .with("ID", &contact.id())
        .with("AuthenticateQualify", flag("AuthenticateQualify"))
        .with("OutboundProxy", &field("OutboundProxy"))
        .with("Path", "")
        .with("QualifyFrequency", &field("QualifyFrequency"))
        .with("QualifyTimeout", &format!("{qualify_timeout:.3}"))
        .with("Qualify2xxOnly", flag("Qualify2xxOnly"))
        .finish()
}

impl State {
    pub(super) fn contacts_of(&self, aor: &str) -> Vec<&Contact> {
        self.contacts.iter().filter(|c| c.aor == aor).collect()
    }

    fn contacts_field(&self, aor: &str) -> String {
        self.contacts_of(aor)
            .iter()
            .map(|c| format!("{}/{}", c.aor, c.uri))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn aor_event(&self, event: &str, id: Option<&str>, aor: &PjsipObject) -> Wire {
        let mut wire = Wire::list_event(event, id)
            .with("ObjectType", "aor")
            .with("ObjectName", &aor.name);
        for (field, value) in pjsip_objects::render(aor) {
            if field == "Contacts" {
                wire.line(&field, &self.contacts_field(&aor.name));
            } else {
                wire.line(&field, &value);
            }
        }
        wire
    }

    /// `DeviceState` and `ActiveChannels` of an endpoint.
    fn device_state(&self, endpoint: &PjsipObject) -> (&'static str, usize) {
        let prefix = format!("PJSIP/{}-", endpoint.name);
        let active = self
            .channels
            .iter()
            .filter(|c| c.snapshot.channel.starts_with(&prefix))
            .count();
        let reachable = endpoint.list("aors").iter().any(|aor| {
            self.contacts_of(aor)
                .iter()
                .any(|c| c.status == "Reachable")
        });
        let state = if active > 0 {
            "In use"
        } else if reachable {
            "Not in use"
        } else {
            "Unavailable"
        };
        (state, active)
    }

    fn endpoint_detail(&self, endpoint: &PjsipObject, id: Option<&str>) -> Vec<u8> {
        let (device_state, active) = self.device_state(endpoint);
        object_event("EndpointDetail", id, endpoint)
            .with("DeviceState", device_state)
            .with("ActiveChannels", &active.to_string())
            .finish()
    }
}
