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
        "{VOLUMES}.all(vs, {CLAIMS}.all(cs, self.containers.all(s, !has(s.volumeMounts) || \
         s.volumeMounts.all(m, (m.name in vs && vs[m.name]) || (m.name in cs && cs[m.name])))))"
    )
}

/// Names the first step with an undeclared mount, and that mount.
pub(crate) fn mounts_declared_message() -> String {
    let unknown = "!((m.name in vs && vs[m.name]) || (m.name in cs && cs[m.name]))";
    let offender = format!(
        "{VOLUMES}.map(vs, {CLAIMS}.map(cs, self.containers.filter(s, has(s.volumeMounts) && s.volumeMounts.exists(m, {unknown}))))[0][0][0]"
    );
    let mount = format!(
        "{VOLUMES}.map(vs, {CLAIMS}.map(cs, {offender}.volumeMounts.filter(m, {unknown})))[0][0][0]"
    );
    format!(
        "'step \"' + {offender}.stepName + '\": mounts volume \"' + {mount}.name + \
         '\", which is not declared: add it to spec.volumes or spec.volumeClaimTemplates, or fix the name'"
    )
}

/// True when no claim template has the name of a volume.
pub(crate) const NAMES_UNIQUE_RULE: &str = "!has(self.volumes) || !has(self.volumeClaimTemplates) || self.volumeClaimTemplates.all(c, !self.volumes.exists(v, v.name == c.name))";
/// Names the claim template that repeats a volume's name.
pub(crate) const NAMES_UNIQUE_MESSAGE: &str = "'volume \"' + self.volumeClaimTemplates.filter(c, self.volumes.exists(v, v.name == c.name))[0].name + '\" is declared in both volumes and volumeClaimTemplates: rename one of them'";

/// Schema of `spec.volumes`: core/v1 Volumes, at most [`MAX_VOLUMES`].
pub(crate) fn volumes(generator: &mut SchemaGenerator) -> Schema {
    bounded(
        crate::embedded_schema::stripped::<Vec<Volume>>(generator),
        MAX_VOLUMES,
    )
}

/// Schema of a step's `volumeMounts`: core/v1 VolumeMounts, at most [`MAX_VOLUME_MOUNTS`].
pub(crate) fn volume_mounts(generator: &mut SchemaGenerator) -> Schema {
    bounded(
        crate::embedded_schema::stripped::<Vec<VolumeMount>>(generator),
        MAX_VOLUME_MOUNTS,
    )
}

fn bounded(mut schema: Schema, max_items: usize) -> Schema {
    schema
        .ensure_object()
        .insert("maxItems".into(), json!(max_items));
    schema
}
