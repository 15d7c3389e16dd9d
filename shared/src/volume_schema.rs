//! The CRD's schema and CEL rules for shared volumes: `volumes` and `volumeMounts` as the
//! core/v1 schemas (without descriptions, bounded), every mount naming a declared volume, and
//! one name space for `volumes` and `volumeClaimTemplates`.
//!
//! The mount rule binds the declared names as maps (`transformMapEntry`, as in
//! `dependencies_exist`), so each lookup costs 1 and the rule stays within the API server's
//! budget at 2,000 steps of 16 mounts each.

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use schemars::{Schema, SchemaGenerator};
use serde_json::json;

use crate::volumes::{MAX_VOLUME_MOUNTS, MAX_VOLUMES};

/// `[names of spec.volumes]` bound by the comprehension around it (an empty map when none).
const VOLUMES: &str =
    "[has(self.volumes) ? self.volumes.transformMapEntry(i, v, {v.name: true}) : {'': false}]";
/// `[names of spec.volumeClaimTemplates]`, likewise.
const CLAIMS: &str = "[has(self.volumeClaimTemplates) ? self.volumeClaimTemplates.transformMapEntry(i, c, {c.name: true}) : {'': false}]";

/// True when every step's `volumeMounts[].name` is a declared volume or claim template.
pub(crate) fn mounts_declared_rule() -> String {
    format!(
        "{VOLUMES}.all(vs, {CLAIMS}.all(cs, !has(self.containers) || self.containers.all(s, !has(s.volumeMounts) || \
         s.volumeMounts.all(m, (m.name in vs && vs[m.name]) || (m.name in cs && cs[m.name])))))"
    )
}

/// What the API server says when [`mounts_declared_rule`] fails. A static message: an
/// expression naming the step costs more than the API server allows at 2,000 steps; `kubectl
/// workflow validate` and the controller name the step and the mount.
pub(crate) const MOUNTS_DECLARED_MESSAGE: &str = "every volumeMounts name must be a volume or volumeClaimTemplate of this workflow: declare it in spec.volumes or spec.volumeClaimTemplates, or fix the name (kubectl workflow validate -f FILE names the step)";

/// True when no claim template has the name of a volume.
pub(crate) const NAMES_UNIQUE_RULE: &str = "!has(self.volumes) || !has(self.volumeClaimTemplates) || self.volumeClaimTemplates.all(c, !self.volumes.exists(v, v.name == c.name))";
/// What the API server says when [`NAMES_UNIQUE_RULE`] fails (static, like the mounts').
pub(crate) const NAMES_UNIQUE_MESSAGE: &str =
    "a volumeClaimTemplates name repeats a volumes name: give each volume its own name";

/// Schema of `spec.volumes`: core/v1 Volumes, at most [`MAX_VOLUMES`].
pub(crate) fn volumes(generator: &mut SchemaGenerator) -> Schema {
    bounded_list(
        crate::embedded_schema::stripped::<Volume>(generator),
        MAX_VOLUMES,
    )
}

/// Schema of a step's `volumeMounts`: core/v1 VolumeMounts, at most [`MAX_VOLUME_MOUNTS`].
pub(crate) fn volume_mounts(generator: &mut SchemaGenerator) -> Schema {
    bounded_list(
        crate::embedded_schema::stripped::<VolumeMount>(generator),
        MAX_VOLUME_MOUNTS,
    )
}

/// A list of at most `max_items` of `item`, whose `name` is a DNS label (at most 63
/// characters): that bound also keeps the API server's cost estimate of the rules above low.
fn bounded_list(mut item: Schema, max_items: usize) -> Schema {
    if let Some(name) = item
        .ensure_object()
        .get_mut("properties")
        .and_then(|properties| properties.get_mut("name"))
        .and_then(|name| name.as_object_mut())
    {
        name.insert("maxLength".into(), json!(crate::names::MAX_LABEL_LEN));
    }
    schemars::json_schema!({
        "type": "array",
        "items": item,
        "maxItems": max_items,
    })
}
