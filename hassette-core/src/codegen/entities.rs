//! The entity half of the module: a constant per entity, by domain and by area.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::Input;
use super::names::{self, Unique};
use super::writer::Writer;

/// Domains with a type in `hassette_core::domain`; every other domain gets a marker type in
/// the generated `domains` module.
const CORE_DOMAINS: &[(&str, &str)] = &[
    ("automation", "Automation"),
    ("binary_sensor", "BinarySensor"),
    ("climate", "Climate"),
    ("cover", "Cover"),
    ("device_tracker", "DeviceTracker"),
    ("fan", "Fan"),
    ("input_boolean", "InputBoolean"),
    ("input_number", "InputNumber"),
    ("input_select", "InputSelect"),
    ("input_text", "InputText"),
    ("light", "Light"),
    ("lock", "Lock"),
    ("media_player", "MediaPlayer"),
    ("person", "Person"),
    ("scene", "Scene"),
    ("script", "Script"),
    ("sensor", "Sensor"),
    ("sun", "Sun"),
    ("switch", "Switch"),
    ("weather", "Weather"),
];

/// The type of a domain's entities, as written in a module that glob-imports the root.
pub(super) fn marker(domain: &str) -> String {
    match CORE_DOMAINS.iter().find(|(d, _)| *d == domain) {
        Some((_, ty)) => format!("d::{ty}"),
        None => format!("domains::{}", names::camel(domain)),
    }
}

struct Entity {
    entity_id: String,
    constant: String,
    doc: String,
}

struct Area {
    name: String,
    /// (domain, constant in the domain module)
    members: Vec<(String, String, String)>,
}

/// Entities sorted by domain and id, with their areas.
pub(super) struct Model {
    domains: BTreeMap<String, Vec<Entity>>,
    areas: BTreeMap<String, Area>,
}

impl Model {
    pub(super) fn new(input: &Input) -> Self {
        let area_names: HashMap<&str, &str> = input
            .area_registry
            .iter()
            .map(|a| (a.area_id.as_str(), a.name.as_str()))
            .collect();
        let devices: HashMap<&str, &super::DeviceEntry> = input
            .device_registry
            .iter()
            .map(|d| (d.id.as_str(), d))
            .collect();
        let registry: HashMap<&str, &super::EntityEntry> = input
            .entity_registry
            .iter()
            .map(|e| (e.entity_id.as_str(), e))
            .collect();

        let mut sorted: Vec<&super::StateInput> = input
            .states
            .iter()
            .filter(|s| {
                s.entity_id
                    .split_once('.')
                    .is_some_and(|(d, o)| valid(d) && !o.is_empty())
            })
            .collect();
        sorted.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
        sorted.dedup_by(|a, b| a.entity_id == b.entity_id);

        let mut domains: BTreeMap<String, Vec<Entity>> = BTreeMap::new();
        let mut uniques: HashMap<String, Unique> = HashMap::new();
        let mut areas: BTreeMap<String, Area> = BTreeMap::new();
        for state in sorted {
            let Some((domain, object_id)) = state.entity_id.split_once('.') else {
                continue;
            };
            let constant = uniques
                .entry(domain.to_owned())
                .or_default()
                .take(names::constant(object_id), false);
            let entry = registry.get(state.entity_id.as_str());
            let device = entry
                .and_then(|e| e.device_id.as_deref())
                .and_then(|id| devices.get(id));
            let area_id = entry
                .and_then(|e| e.area_id.clone())
                .or_else(|| device.and_then(|d| d.area_id.clone()));
            let area_name = area_id
                .as_deref()
                .map(|id| area_names.get(id).copied().unwrap_or(id).to_owned());
            let attribute = |name: &str| match state.attributes.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(names::one_line(s)),
                _ => None,
            };
            let mut details = Vec::new();
            if let Some(area) = &area_name {
                details.push(format!("area {area}"));
            }
            if let Some(device) =
                device.and_then(|d| d.name_by_user.as_deref().or(d.name.as_deref()))
            {
                details.push(format!("device {}", names::one_line(device)));
            }
            if let Some(unit) = attribute("unit_of_measurement") {
                details.push(format!("unit {unit}"));
            }
            let title = attribute("friendly_name").unwrap_or_else(|| state.entity_id.clone());
            let mut doc = format!("{title} (`{}`)", state.entity_id);
            if !details.is_empty() {
                doc.push_str(": ");
                doc.push_str(&details.join(", "));
            }
            doc.push('.');
            if let (Some(area_id), Some(area_name)) = (area_id, area_name) {
                let area = areas.entry(area_id).or_insert_with(|| Area {
                    name: area_name,
                    members: Vec::new(),
                });
                area.members
                    .push((domain.to_owned(), constant.clone(), state.entity_id.clone()));
            }
            domains.entry(domain.to_owned()).or_default().push(Entity {
                entity_id: state.entity_id.clone(),
                constant,
                doc,
            });
        }
        Self { domains, areas }
    }

    pub(super) fn entity_count(&self) -> usize {
        self.domains.values().map(Vec::len).sum()
    }

    /// The entity ids of `domain`, sorted.
    pub(super) fn has_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(domain)
    }

    pub(super) fn write(&self, w: &mut Writer) {
        self.write_markers(w);
        for (domain, entities) in &self.domains {
            w.blank();
            w.doc(&format!("Every `{domain}` entity."));
            w.open(&format!("pub mod {} {{", names::snake(domain)));
            w.line("use super::*;");
            let ty = marker(domain);
            for e in entities {
                w.blank();
                w.doc(&e.doc);
                constant(
                    w,
                    &e.constant,
                    &format!("EntityId<{ty}>"),
                    &format!("EntityId::from_static({})", names::literal(&e.entity_id)),
                );
            }
            w.blank();
            w.doc(&format!("Every `{domain}` entity id."));
            constant_list(w, "ALL", entities.iter().map(|e| e.entity_id.as_str()));
            w.close();
        }
        self.write_areas(w);
    }

    fn write_markers(&self, w: &mut Writer) {
        let extra: Vec<&String> = self
            .domains
            .keys()
            .filter(|d| !CORE_DOMAINS.iter().any(|(c, _)| c == d))
            .collect();
        w.blank();
        w.doc("Domains without a type in `hassette_core::domain`: their state is text.");
        w.open("pub mod domains {");
        w.line("use super::*;");
        for domain in extra {
            let name = names::camel(domain);
            w.blank();
            w.doc(&format!("The `{domain}` domain."));
            w.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]");
            w.line(&format!("pub enum {name} {{}}"));
            w.blank();
            w.open(&format!("impl d::Domain for {name} {{"));
            w.line(&format!(
                "const DOMAIN: &'static str = {};",
                names::literal(domain)
            ));
            w.line("type State = d::StateText;");
            w.close();
        }
        w.close();
    }

    fn write_areas(&self, w: &mut Writer) {
        w.blank();
        w.doc("Entities by area (from the entity registry, or their device's area).");
        w.open("pub mod areas {");
        let mut modules = Unique::default();
        for (area_id, area) in &self.areas {
            w.blank();
            w.doc(&format!("{} (`{area_id}`).", names::one_line(&area.name)));
            w.open(&format!(
                "pub mod {} {{",
                modules.take(names::snake(area_id), false)
            ));
            w.line("use super::super::*;");
            let mut consts = Unique::default();
            for (domain, constant_name, entity_id) in &area.members {
                let name = consts.take(
                    format!("{}_{constant_name}", names::constant(domain)),
                    false,
                );
                w.blank();
                w.doc(&format!("`{entity_id}`."));
                constant(
                    w,
                    &name,
                    &format!("EntityId<{}>", marker(domain)),
                    &format!("{}::{constant_name}", names::snake(domain)),
                );
            }
            let mut ids: Vec<&str> = area.members.iter().map(|m| m.2.as_str()).collect();
            ids.sort_unstable();
            w.blank();
            w.doc(&format!("Every entity in {}.", names::one_line(&area.name)));
            constant_list(w, "ALL", ids.into_iter());
            w.close();
        }
        w.close();
    }
}

fn valid(domain: &str) -> bool {
    !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `pub const NAME: TY = VALUE;`, broken after `=` as rustfmt does when too long.
fn constant(w: &mut Writer, name: &str, ty: &str, value: &str) {
    let line = format!("pub const {name}: {ty} = {value};");
    if w.width() + line.len() <= 100 {
        w.line(&line);
    } else {
        w.line(&format!("pub const {name}: {ty} ="));
        w.indented(&format!("{value};"));
    }
}

/// `pub const NAME: &[&str] = &[...];`, one id per line when it does not fit on one.
fn constant_list<'a>(w: &mut Writer, name: &str, ids: impl Iterator<Item = &'a str>) {
    let ids: Vec<String> = ids.map(names::literal).collect();
    let line = format!("pub const {name}: &[&str] = &[{}];", ids.join(", "));
    if w.width() + line.len() <= 100 {
        w.line(&line);
        return;
    }
    w.open(&format!("pub const {name}: &[&str] = &["));
    for id in ids {
        w.line(&format!("{id},"));
    }
    w.close_with("];");
}
